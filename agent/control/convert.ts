/**
 * The agent control service's wire messages from the agent's records: containers
 * (`ContainerInfo`), the node's own networks (`Network`, with this node's containers
 * on them, shaped as the managers' networks are so the CLI prints both alike) and the
 * reconcile loop's counters (`ReconcilerCounters`).
 */
import { networkToWire } from "../../common/network-wire.js";
import type { ContainerInfo } from "../../proto/generated/swarmnet/v1/ContainerInfo.js";
import type { Network } from "../../proto/generated/swarmnet/v1/Network.js";
import type { ReconcilerCounters } from "../../proto/generated/swarmnet/v1/ReconcilerCounters.js";
import type { Agent } from "../agent.js";
import type { EmbeddedDns } from "../dns/index.js";
import type { ContainerRecord } from "../sandbox/index.js";

export function containerInfo(c: ContainerRecord, nodeName: string, dns: EmbeddedDns): ContainerInfo {
  return {
    id: c.id,
    name: c.name,
    netns: c.netns ?? "",
    command: [...c.command],
    status: c.status,
    pid: c.pid,
    exitCode: c.exitCode,
    createdAt: c.createdAt,
    nodeName,
    ports: [...(c.ports ?? [])],
    endpoints: c.endpoints.map((e) => ({
      networkId: e.networkId,
      networkName: e.networkName,
      ip: e.ip,
      prefixLength: e.prefixLength,
      mac: e.mac,
      gateway: e.gateway,
      aliases: [...e.aliases],
      ifname: e.ifname,
      dnsNames: dns.dnsNames(c, e),
    })),
    resolvConf: c.netns === undefined ? "" : (dns.resolvConfOf(c.id) ?? ""),
  };
}

export function localNetworksInfo(agent: Agent): Network[] {
  const containers = agent.containers.list(true);
  return agent.localNetworks.all().map((n) => {
    const on = containers.filter((c) => c.endpoints.some((e) => e.networkId === n.id));
    return networkToWire(n, {
      attached: on.map((c) => `container:${c.name}`),
      endpoints: on.flatMap((c) =>
        c.endpoints
          .filter((e) => e.networkId === n.id)
          .map((e) => ({
            kind: "container",
            id: c.id,
            name: c.name,
            nodeId: agent.config.nodeName,
            ip: e.ip,
            mac: e.mac,
            prefixLength: e.prefixLength,
          })),
      ),
      peers: [],
      node: agent.config.nodeName,
    });
  });
}

export function reconcilerCounters(agent: Agent): ReconcilerCounters[] {
  return (agent.loop?.stats() ?? []).map((s) => ({
    name: s.name,
    passes: s.passes,
    resyncs: s.resyncs,
    applied: s.applied,
    skipped: s.skipped,
    failures: s.failures,
    lastError: s.lastError ?? "",
    pending: s.pending,
  }));
}

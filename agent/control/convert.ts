/**
 * The agent control service's wire messages from the agent's records: containers
 * (`ContainerInfo`) and the node's own networks (`Network`, with this node's containers
 * on them, shaped as the managers' networks are so the CLI prints both alike).
 */
import { parseCidr } from "../../common/net-addr.js";
import type { ContainerInfo } from "../../proto/generated/swarmnet/v1/ContainerInfo.js";
import type { Network } from "../../proto/generated/swarmnet/v1/Network.js";
import type { Agent } from "../agent.js";
import type { ContainerRecord } from "../sandbox/index.js";

export function containerInfo(c: ContainerRecord, nodeName: string): ContainerInfo {
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
    })),
  };
}

export function localNetworksInfo(agent: Agent): Network[] {
  const containers = agent.containers.list(true);
  return agent.localNetworks.map((n) => ({
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: n.scope,
    createdAt: n.createdAt,
    internal: n.internal,
    attachable: n.attachable,
    ingress: n.ingress,
    ipamDriver: n.ipam.driver,
    ipamConfigs: n.ipam.configs.map((c) => ({
      subnet: c.subnet,
      gateway: c.gateway,
      ipRange: c.ipRange ?? "",
      auxAddresses: c.auxAddresses,
    })),
    ipamOptions: n.ipam.options,
    options: n.options,
    labels: n.labels,
    endpoints: containers.flatMap((c) =>
      c.endpoints
        .filter((e) => e.networkId === n.id)
        .map((e) => ({
          kind: "container",
          id: c.id,
          name: c.name,
          nodeId: agent.config.nodeName,
          ip: e.ip,
          mac: e.mac,
          prefixLength: e.prefixLength || (parseCidr(n.ipam.configs[0]?.subnet ?? "")?.prefix ?? 0),
        })),
    ),
    attached: containers
      .filter((c) => c.endpoints.some((e) => e.networkId === n.id))
      .map((c) => `container:${c.name}`),
  }));
}

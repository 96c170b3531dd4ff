/**
 * The agent's one decoder of the managers' wire messages: the dispatcher stream's
 * networks, services, tasks, seeds, cluster settings, ingress endpoint and key rings,
 * into the shared types (common/cluster-types.ts). Enums are checked here (an unknown
 * value reads as the default), key rings validated; nothing else of the agent reads
 * generated proto types.
 */
import type { EncryptionKeyRing__Output } from "../../proto/generated/swarmnet/v1/EncryptionKeyRing.js";
import type { EncryptionKeys__Output } from "../../proto/generated/swarmnet/v1/EncryptionKeys.js";
import type { ClusterSettings__Output } from "../../proto/generated/swarmnet/v1/ClusterSettings.js";
import type { GossipSeed__Output } from "../../proto/generated/swarmnet/v1/GossipSeed.js";
import type { Network__Output } from "../../proto/generated/swarmnet/v1/Network.js";
import type { IngressEndpoint__Output } from "../../proto/generated/swarmnet/v1/IngressEndpoint.js";
import type { Service__Output } from "../../proto/generated/swarmnet/v1/Service.js";
import type { Task__Output } from "../../proto/generated/swarmnet/v1/Task.js";
import type {
  ClusterSettings,
  GossipSeed,
  IngressEndpointIntent,
  NetworkIntent,
  ServiceIntent,
  TaskIntent,
} from "../../common/cluster-types.js";
import { secretBytes, validateKeyRing, type KeyRing } from "../../common/key-schedule.js";
import { publishedPortFromWire } from "../../common/publish-spec.js";

/**
 * A ring from the wire, validated (throws a SwarmnetError naming tags, never bytes, if
 * the managers sent a broken one); undefined when there are no keys.
 */
export function keyRingFromProto(r: EncryptionKeyRing__Output | null | undefined): KeyRing | undefined {
  if (r === null || r === undefined || r.keys.length === 0) return undefined;
  return validateKeyRing({
    keys: r.keys.map((k) => ({ tag: k.tag, secret: secretBytes(k.key) })),
    primaryTag: r.primaryTag,
  });
}

export function keysFromProto(
  k: EncryptionKeys__Output | null | undefined,
): [KeyRing | undefined, KeyRing | undefined] {
  return [keyRingFromProto(k?.data), keyRingFromProto(k?.gossip)];
}

export function serviceFromProto(s: Service__Output): ServiceIntent {
  return {
    id: s.id,
    name: s.name,
    mode: s.mode === "global" ? "global" : "replicated",
    replicas: s.replicas,
    endpointMode: s.endpointMode === "dnsrr" ? "dnsrr" : "vip",
    ports: s.ports.map(publishedPortFromWire),
    vips: s.vips.map((v) => ({ networkId: v.networkId, ip: v.ip, prefixLength: v.prefixLength })),
    networks: [...s.networks],
    ingress: s.ingressNetworkId === "" ? undefined : { networkId: s.ingressNetworkId, vip: s.ingressVip },
    version: Number(s.version),
  };
}

export function taskFromProto(t: Task__Output): TaskIntent {
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName: t.serviceName,
    name: t.name,
    containerName: t.containerName,
    slot: t.slot,
    nodeId: t.nodeId,
    desiredState: t.desiredState === "shutdown" ? "shutdown" : "running",
    command: [...t.command],
    env: { ...t.env },
    networks: t.networks.map((n) => ({ networkId: n.networkId, ip: n.ip })),
    ports: t.ports.map(publishedPortFromWire),
  };
}

export function endpointFromProto(
  e: IngressEndpoint__Output | null | undefined,
): IngressEndpointIntent | undefined {
  return e === null || e === undefined || e.ip === "" ? undefined : { networkId: e.networkId, ip: e.ip };
}

export function networkFromProto(n: Network__Output): NetworkIntent {
  return {
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: n.scope === "local" ? "local" : "swarm",
    createdAt: n.createdAt,
    internal: n.internal,
    attachable: n.attachable,
    ingress: n.ingress,
    ipam: {
      driver: n.ipamDriver,
      configs: n.ipamConfigs.map((c) => ({
        subnet: c.subnet,
        gateway: c.gateway,
        ipRange: c.ipRange === "" ? undefined : c.ipRange,
        auxAddresses: { ...c.auxAddresses },
      })),
      options: { ...n.ipamOptions },
    },
    options: { ...n.options },
    labels: { ...n.labels },
    vni: n.vni === 0 ? undefined : n.vni,
    encrypted: n.encrypted,
    mtu: n.mtu === 0 ? undefined : n.mtu,
  };
}

export function seedsFromProto(seeds: GossipSeed__Output[]): GossipSeed[] {
  return seeds.map((s) => ({ nodeId: s.nodeId, hostname: s.hostname, address: s.address }));
}

export function clusterFromProto(c: ClusterSettings__Output | null | undefined): ClusterSettings | undefined {
  return c === null || c === undefined ? undefined : { clusterId: c.clusterId, dataPathPort: c.dataPathPort };
}

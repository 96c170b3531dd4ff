/**
 * The intent an agent receives from the managers, as plain typed objects (converted
 * from the wire once, here), and the pure rules for applying it:
 *
 *   applyBatch(state, batch)   → the events of one revision's changes, in order
 *   diffSnapshot(state, snap)  → the events that turn the current state into the
 *                                snapshot's (a resync after reconnecting shows up to
 *                                consumers as changes, never as a reset)
 *
 * Revisions are etcd's: a batch at or below the state's revision is a duplicate and is
 * dropped, so replays after a reconnect are harmless.
 */
import type { ChangeBatch__Output } from "../../proto/generated/swarmnet/v1/ChangeBatch.js";
import type { ClusterSettings__Output } from "../../proto/generated/swarmnet/v1/ClusterSettings.js";
import type { GossipSeed__Output } from "../../proto/generated/swarmnet/v1/GossipSeed.js";
import type { Network__Output } from "../../proto/generated/swarmnet/v1/Network.js";
import type { SessionSnapshot__Output } from "../../proto/generated/swarmnet/v1/SessionSnapshot.js";

export interface IpamConfigIntent {
  subnet: string;
  gateway: string;
  ipRange: string | undefined;
  auxAddresses: Record<string, string>;
}

export interface NetworkIntent {
  id: string;
  name: string;
  driver: string;
  scope: "swarm" | "local";
  createdAt: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  ipam: { driver: string; configs: IpamConfigIntent[]; options: Record<string, string> };
  options: Record<string, string>;
  labels: Record<string, string>;
  /** VXLAN id, overlay networks only. */
  vni: number | undefined;
  encrypted: boolean;
  /** MTU asked for with an option; undefined = the driver's default. */
  mtu: number | undefined;
}

export interface GossipSeed {
  nodeId: string;
  hostname: string;
  address: string;
}

export interface ClusterSettings {
  clusterId: string;
  dataPathPort: number;
}

export interface IntentState {
  /** The etcd revision this state reflects (0 before the first snapshot). */
  revision: number;
  networks: Map<string, NetworkIntent>;
  seeds: GossipSeed[];
  managers: string[];
  cluster: ClusterSettings | undefined;
}

export type IntentEvent =
  | { kind: "networkUpsert"; revision: number; network: NetworkIntent; previous: NetworkIntent | undefined }
  | { kind: "networkRemoved"; revision: number; network: NetworkIntent }
  | { kind: "seeds"; revision: number; seeds: GossipSeed[] }
  | { kind: "managers"; revision: number; managers: string[] }
  | { kind: "cluster"; revision: number; cluster: ClusterSettings };

export function emptyState(): IntentState {
  return { revision: 0, networks: new Map(), seeds: [], managers: [], cluster: undefined };
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

function seedsFromProto(seeds: GossipSeed__Output[]): GossipSeed[] {
  return seeds.map((s) => ({ nodeId: s.nodeId, hostname: s.hostname, address: s.address }));
}

function clusterFromProto(c: ClusterSettings__Output | null | undefined): ClusterSettings | undefined {
  return c === null || c === undefined ? undefined : { clusterId: c.clusterId, dataPathPort: c.dataPathPort };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Applies one revision's batch to `state` (mutated) and returns its events. */
export function applyBatch(state: IntentState, batch: ChangeBatch__Output): IntentEvent[] {
  const revision = Number(batch.revision);
  if (revision <= state.revision) return [];
  const events: IntentEvent[] = [];
  for (const c of batch.changes) {
    if (c.networkUpsert) {
      const network = networkFromProto(c.networkUpsert);
      const previous = state.networks.get(network.id);
      state.networks.set(network.id, network);
      if (!same(previous, network)) events.push({ kind: "networkUpsert", revision, network, previous });
    } else if (c.networkRemoved) {
      const network = state.networks.get(c.networkRemoved.id);
      state.networks.delete(c.networkRemoved.id);
      if (network !== undefined) events.push({ kind: "networkRemoved", revision, network });
    } else if (c.seeds) {
      state.seeds = seedsFromProto(c.seeds.seeds);
      events.push({ kind: "seeds", revision, seeds: state.seeds });
    } else if (c.managers) {
      state.managers = [...c.managers.addresses];
      events.push({ kind: "managers", revision, managers: state.managers });
    } else if (c.cluster) {
      const cluster = clusterFromProto(c.cluster);
      if (cluster !== undefined) {
        state.cluster = cluster;
        events.push({ kind: "cluster", revision, cluster });
      }
    }
  }
  state.revision = revision;
  return events;
}

/** Replaces `state` (mutated) with a snapshot; returns the differences as events. */
export function diffSnapshot(state: IntentState, snap: SessionSnapshot__Output): IntentEvent[] {
  const revision = Number(snap.revision);
  const events: IntentEvent[] = [];
  const incoming = new Map(snap.networks.map((n) => [n.id, networkFromProto(n)]));
  for (const [id, network] of incoming) {
    const previous = state.networks.get(id);
    if (!same(previous, network)) events.push({ kind: "networkUpsert", revision, network, previous });
  }
  for (const [id, network] of state.networks) {
    if (!incoming.has(id)) events.push({ kind: "networkRemoved", revision, network });
  }
  const seeds = seedsFromProto(snap.seeds);
  if (!same(seeds, state.seeds)) events.push({ kind: "seeds", revision, seeds });
  const managers = [...snap.managers];
  if (!same(managers, state.managers)) events.push({ kind: "managers", revision, managers });
  const cluster = clusterFromProto(snap.cluster);
  if (cluster !== undefined && !same(cluster, state.cluster))
    events.push({ kind: "cluster", revision, cluster });
  state.revision = revision;
  state.networks = incoming;
  state.seeds = seeds;
  state.managers = managers;
  state.cluster = cluster ?? state.cluster;
  return events;
}

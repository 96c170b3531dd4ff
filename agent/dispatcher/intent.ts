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
 *
 * What a node receives (see proto/control.proto, Dispatcher):
 *   networks          every network of the cluster
 *   services          every service (the routing mesh answers for all of them on every
 *                     node): mode, endpoint mode, published ports with their mode, the
 *                     networks its tasks are on, a VIP per network, the ingress VIP
 *   tasks             only the tasks assigned to THIS node, with their full spec and the
 *                     desired state; a task leaves `tasks` (taskRemoved) once the
 *                     managers no longer want anything of this node for it (its
 *                     sandbox was reported gone, or it was orphaned)
 *   ingressEndpoint   THIS node's own address on the ingress network (Docker's
 *                     ingress-sbox endpoint; the mesh masquerades to it)
 *   seeds, managers, cluster settings
 *   dataKeys, gossipKeys  the cluster's two key rings (encrypted overlays, gossip), as the
 *                     exact `KeyRing` `EncryptionBackend.setKeys` takes, validated and
 *                     with the bytes as `SecretBytes` (redacted in logs); a `keys` event
 *                     carries both whole rings after every rotation, in the schedule's
 *                     lossless order (common/key-schedule.ts). Memory only: never write
 *                     them to disk, never log them.
 *
 * How an agent acts on tasks (the contract the managers rely on):
 *   taskUpsert, desiredState running, new id   create the sandbox on `networks` with the
 *                                              given IPs (`taskAttachments`), start
 *                                              `command` with `env`, report running (or
 *                                              failed with the exit code)
 *   taskUpsert, same id, networks/ports differ change it IN PLACE (connect/disconnect
 *                                              endpoints, re-publish ports): never
 *                                              restart it — `service publish` relies on it
 *   taskUpsert, desiredState shutdown          stop and remove it, then report shutdown
 *                                              (the managers then free its addresses)
 *   taskRemoved                                make sure it is gone; no report needed
 * Reports go through `DispatcherClient.reportTaskStatus`.
 */
import type { ChangeBatch__Output } from "../../proto/generated/swarmnet/v1/ChangeBatch.js";
import type { SessionSnapshot__Output } from "../../proto/generated/swarmnet/v1/SessionSnapshot.js";
import {
  DEFAULT_DATA_PATH_PORT,
  type ClusterSettings,
  type GossipSeed,
  type IngressEndpointIntent,
  type NetworkIntent,
  type ServiceIntent,
  type TaskIntent,
} from "../../common/cluster-types.js";
import { sameKeyRing, type KeyRing } from "../../common/key-schedule.js";
import {
  clusterFromProto,
  endpointFromProto,
  keysFromProto,
  networkFromProto,
  seedsFromProto,
  serviceFromProto,
  taskFromProto,
} from "./intent-codec.js";
import { cidrContains, parseCidr, parseIpv4 } from "../../common/net-addr.js";
import type { Attachment } from "../attachments.js";
import type { DriverNetwork } from "../drivers/driver.js";

export type {
  ClusterSettings,
  GossipSeed,
  IngressEndpointIntent,
  IpamConfigIntent,
  NetworkIntent,
  PublishedPort,
  ServiceIntent,
  ServiceVipIntent,
  TaskIntent,
  TaskNetworkIntent,
} from "../../common/cluster-types.js";

export interface IntentState {
  /** The etcd revision this state reflects (0 before the first snapshot). */
  revision: number;
  networks: Map<string, NetworkIntent>;
  seeds: GossipSeed[];
  managers: string[];
  cluster: ClusterSettings | undefined;
  /** Every service of the cluster, by id. */
  services: Map<string, ServiceIntent>;
  /** The tasks assigned to this node, by id. */
  tasks: Map<string, TaskIntent>;
  /** This node's ingress address (undefined until the managers allocated it). */
  ingressEndpoint: IngressEndpointIntent | undefined;
  /** The encrypted overlays' key ring: what `EncryptionBackend.setKeys` takes. */
  dataKeys: KeyRing | undefined;
  /** The gossip key ring (primary = the key gossip encrypts with). */
  gossipKeys: KeyRing | undefined;
}

/** The id an event is about (a network's, service's or task's; "" for cluster-wide kinds). */
export function eventSubject(e: IntentEvent): string {
  switch (e.kind) {
    case "networkUpsert":
    case "networkRemoved":
      return e.network.id;
    case "serviceUpsert":
    case "serviceRemoved":
      return e.service.id;
    case "taskUpsert":
    case "taskRemoved":
      return e.task.id;
    default:
      return "";
  }
}

export type IntentEvent =
  | { kind: "networkUpsert"; revision: number; network: NetworkIntent; previous: NetworkIntent | undefined }
  | { kind: "networkRemoved"; revision: number; network: NetworkIntent }
  | { kind: "seeds"; revision: number; seeds: GossipSeed[] }
  | { kind: "managers"; revision: number; managers: string[] }
  | { kind: "cluster"; revision: number; cluster: ClusterSettings }
  /** A service appeared or changed (ports published/unpublished, VIPs, replicas, networks). */
  | { kind: "serviceUpsert"; revision: number; service: ServiceIntent; previous: ServiceIntent | undefined }
  | { kind: "serviceRemoved"; revision: number; service: ServiceIntent }
  /** A task of this node appeared or changed (same id: change it in place, never restart). */
  | { kind: "taskUpsert"; revision: number; task: TaskIntent; previous: TaskIntent | undefined }
  /** A task left this node's intent: remove whatever is left of it. */
  | { kind: "taskRemoved"; revision: number; task: TaskIntent }
  /** This node's ingress address was allocated (or, undefined, freed). */
  | {
      kind: "ingressEndpoint";
      revision: number;
      endpoint: IngressEndpointIntent | undefined;
      previous: IngressEndpointIntent | undefined;
    }
  /**
   * The key rings changed (a rotation: both rings whole, one event per revision). Apply
   * `dataKeys` with `setKeys`, and the gossip ring to the gossip keyring (install every
   * key, use the primary, remove the ones gone). Never log the rings' bytes.
   */
  | {
      kind: "keys";
      revision: number;
      dataKeys: KeyRing | undefined;
      gossipKeys: KeyRing | undefined;
      previousDataKeys: KeyRing | undefined;
      previousGossipKeys: KeyRing | undefined;
    };

export function emptyState(): IntentState {
  return {
    revision: 0,
    networks: new Map(),
    seeds: [],
    managers: [],
    cluster: undefined,
    services: new Map(),
    tasks: new Map(),
    ingressEndpoint: undefined,
    dataKeys: undefined,
    gossipKeys: undefined,
  };
}

/** Sets both rings; the `keys` event when either changed. */
function applyKeys(
  state: IntentState,
  revision: number,
  [dataKeys, gossipKeys]: [KeyRing | undefined, KeyRing | undefined],
): IntentEvent[] {
  const previousDataKeys = state.dataKeys;
  const previousGossipKeys = state.gossipKeys;
  state.dataKeys = dataKeys;
  state.gossipKeys = gossipKeys;
  if (sameKeyRing(previousDataKeys, dataKeys) && sameKeyRing(previousGossipKeys, gossipKeys)) return [];
  return [{ kind: "keys", revision, dataKeys, gossipKeys, previousDataKeys, previousGossipKeys }];
}

/**
 * A network as the agent's drivers take it, for an endpoint at `ip`: the subnet and
 * gateway of the IPAM config that holds the address, and the cluster's data-path port.
 */
export function driverNetworkFor(n: NetworkIntent, ip: string, dataPathPort: number): DriverNetwork {
  const addr = parseIpv4(ip);
  const config =
    n.ipam.configs.find((c) => {
      const cidr = parseCidr(c.subnet);
      return cidr !== undefined && addr !== undefined && cidrContains(cidr, addr);
    }) ?? n.ipam.configs[0];
  return { intent: n, subnet: config?.subnet ?? "", gateway: config?.gateway ?? "", dataPathPort };
}

/** The cluster's data-path port as the state says (the default before it says). */
export function dataPathPort(state: IntentState | undefined): number {
  return knownDataPathPort(state) ?? DEFAULT_DATA_PATH_PORT;
}

/**
 * The cluster's data-path port once the state has the cluster's settings, else undefined:
 * for what must not guess it (the encryption protects exactly this port).
 */
export function knownDataPathPort(state: IntentState | undefined): number | undefined {
  return state?.cluster === undefined ? undefined : state.cluster.dataPathPort || DEFAULT_DATA_PATH_PORT;
}

/**
 * A task's endpoints as `Attachment`s, from the networks in `state`. A network the state
 * does not know (yet) is left out.
 */
export function taskAttachments(state: IntentState, task: TaskIntent): Attachment[] {
  const port = dataPathPort(state);
  return task.networks.flatMap((tn) => {
    const n = state.networks.get(tn.networkId);
    return n === undefined ? [] : [{ ...driverNetworkFor(n, tn.ip, port), ip: tn.ip }];
  });
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Applies one revision's batch to `state` (mutated) and returns its events. */
export function applyBatch(state: IntentState, batch: ChangeBatch__Output): IntentEvent[] {
  const revision = Number(batch.revision);
  if (revision <= state.revision) return [];
  const events: IntentEvent[] = [];
  for (const c of batch.changes) {
    if (c.serviceUpsert || c.serviceRemoved || c.taskUpsert || c.taskRemoved || c.ingressEndpoint) {
      events.push(...applyWorkload(state, c, revision));
      continue;
    }
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
    } else if (c.keys) {
      events.push(...applyKeys(state, revision, keysFromProto(c.keys)));
    }
  }
  state.revision = revision;
  return events;
}

function applyWorkload(
  state: IntentState,
  c: ChangeBatch__Output["changes"][number],
  revision: number,
): IntentEvent[] {
  if (c.serviceUpsert) {
    const service = serviceFromProto(c.serviceUpsert);
    const previous = state.services.get(service.id);
    state.services.set(service.id, service);
    return same(previous, service) ? [] : [{ kind: "serviceUpsert", revision, service, previous }];
  }
  if (c.serviceRemoved) {
    const service = state.services.get(c.serviceRemoved.id);
    state.services.delete(c.serviceRemoved.id);
    return service === undefined ? [] : [{ kind: "serviceRemoved", revision, service }];
  }
  if (c.taskUpsert) {
    const task = taskFromProto(c.taskUpsert);
    const previous = state.tasks.get(task.id);
    state.tasks.set(task.id, task);
    return same(previous, task) ? [] : [{ kind: "taskUpsert", revision, task, previous }];
  }
  if (c.taskRemoved) {
    const task = state.tasks.get(c.taskRemoved.id);
    state.tasks.delete(c.taskRemoved.id);
    return task === undefined ? [] : [{ kind: "taskRemoved", revision, task }];
  }
  const endpoint = endpointFromProto(c.ingressEndpoint);
  const previous = state.ingressEndpoint;
  state.ingressEndpoint = endpoint;
  return same(previous, endpoint) ? [] : [{ kind: "ingressEndpoint", revision, endpoint, previous }];
}

/** Upserts and removals that turn `current` into `incoming` (maps by id). */
function diffMaps<T extends { id: string }>(
  current: ReadonlyMap<string, T>,
  incoming: ReadonlyMap<string, T>,
  upsert: (item: T, previous: T | undefined) => IntentEvent,
  removed: (item: T) => IntentEvent,
): IntentEvent[] {
  const events: IntentEvent[] = [];
  for (const [id, item] of incoming) {
    const previous = current.get(id);
    if (!same(previous, item)) events.push(upsert(item, previous));
  }
  for (const [id, item] of current) if (!incoming.has(id)) events.push(removed(item));
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
  const services = new Map(snap.services.map((x) => [x.id, serviceFromProto(x)]));
  events.push(
    ...diffMaps(
      state.services,
      services,
      (service, previous) => ({ kind: "serviceUpsert", revision, service, previous }),
      (service) => ({ kind: "serviceRemoved", revision, service }),
    ),
  );
  const tasks = new Map(snap.tasks.map((x) => [x.id, taskFromProto(x)]));
  events.push(
    ...diffMaps(
      state.tasks,
      tasks,
      (task, previous) => ({ kind: "taskUpsert", revision, task, previous }),
      (task) => ({ kind: "taskRemoved", revision, task }),
    ),
  );
  const rings = keysFromProto(snap.keys);
  const endpoint = endpointFromProto(snap.ingressEndpoint);
  if (!same(endpoint, state.ingressEndpoint)) {
    events.push({ kind: "ingressEndpoint", revision, endpoint, previous: state.ingressEndpoint });
  }
  state.services = services;
  state.tasks = tasks;
  state.ingressEndpoint = endpoint;
  state.revision = revision;
  state.networks = incoming;
  state.seeds = seeds;
  state.managers = managers;
  state.cluster = cluster ?? state.cluster;
  events.push(...applyKeys(state, revision, rings));
  return events;
}

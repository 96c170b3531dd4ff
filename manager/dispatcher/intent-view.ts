/**
 * What the dispatcher serves, derived from one `PrefixMirror` of the whole store: the
 * intent an agent needs (networks, services, its own tasks and ingress endpoint — see
 * `workload-intent.ts`), the gossip seed list (ready nodes' advertise addresses), the
 * live managers, the cluster settings and the two key rings (data plane and gossip, see
 * manager/keys/) — as a state that can be snapshotted and as a stream of change
 * batches, one per etcd revision. A key rotation is one transaction, so it reaches every
 * stream as one `keys` change carrying both whole rings: agents never see half a step.
 * The rings are held in memory only, with their bytes as `SecretBytes` (never logged).
 *
 * Batches are global; a few kinds of change belong to one node (its tasks, its ingress
 * endpoint), and `forNode` keeps only what a node's stream should carry — for live
 * batches and for resumed ones alike, so resuming never leaks another node's tasks.
 *
 * A bounded log keeps the latest batches so a stream that broke (on this manager or
 * another: revisions are etcd's, the same everywhere) can resume after revision R
 * without a snapshot, as long as R is at or above `floor` — the revision from which the
 * log is complete. Older resume points get a snapshot; the agent diffs it against what
 * it has, so even then its consumers see changes, not a reset.
 */
import { sameKeyRing, type KeyRing } from "../../common/key-schedule.js";
import type { Logger } from "../../common/logger.js";
import { ringFromRecords } from "../keys/key-records.js";
import { silentLogger } from "../../common/logger.js";
import { keys, ROOT } from "../store/keys.js";
import type { Kv, KvEvent } from "../store/kv.js";
import {
  decode,
  type ClusterRecord,
  type EncryptionKeyRecord,
  type ManagerRecord,
  type NetworkRecord,
  type NodeRecord,
} from "../store/records.js";
import { PrefixMirror, type MirrorChange } from "../store/watch.js";
import {
  visibleTo,
  WorkloadIntent,
  type IngressEndpointIntent,
  type ServiceDetail,
  type TaskIntent,
  type WorkloadChange,
} from "./workload-intent.js";

export type { ClusterSettings, GossipSeed } from "../../common/cluster-types.js";
import type { ClusterSettings, GossipSeed } from "../../common/cluster-types.js";

export type IntentChange =
  | { kind: "networkUpsert"; network: NetworkRecord }
  | { kind: "networkRemoved"; id: string; name: string }
  | { kind: "seeds"; seeds: GossipSeed[] }
  | { kind: "managers"; addresses: string[] }
  | { kind: "cluster"; settings: ClusterSettings }
  /** Both rings after a rotation (or after the first keys appear); every node gets them. */
  | { kind: "keys"; dataKeys: KeyRing | undefined; gossipKeys: KeyRing | undefined }
  | WorkloadChange;

export interface ChangeBatch {
  revision: number;
  changes: IntentChange[];
}

export interface IntentSnapshot {
  revision: number;
  networks: NetworkRecord[];
  seeds: GossipSeed[];
  managers: string[];
  cluster: ClusterSettings | undefined;
  services: ServiceDetail[];
  /** The node's own tasks. */
  tasks: TaskIntent[];
  /** The node's own ingress endpoint. */
  ingressEndpoint: IngressEndpointIntent | undefined;
  /** The encrypted overlays' key ring and the gossip key ring. */
  dataKeys: KeyRing | undefined;
  gossipKeys: KeyRing | undefined;
}

/** The part of a batch `nodeId`'s stream carries (other nodes' tasks and endpoints dropped). */
export function forNode(batch: ChangeBatch, nodeId: string): ChangeBatch {
  const changes = batch.changes.filter((c) => visibleTo(nodeId, c));
  return changes.length === batch.changes.length ? batch : { revision: batch.revision, changes };
}

export type NodeListener = (nodeId: string, node: NodeRecord | undefined) => void;

export class IntentView {
  private readonly mirror: PrefixMirror;
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly workload = new WorkloadIntent();
  private seeds: GossipSeed[] = [];
  private managers: string[] = [];
  private cluster: ClusterSettings | undefined;
  private dataKeys: KeyRing | undefined;
  private gossipKeys: KeyRing | undefined;
  private readonly log: ChangeBatch[] = [];
  private logFloor = 0;
  private readonly batchListeners = new Set<(b: ChangeBatch) => void>();
  private readonly nodeListeners = new Set<NodeListener>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    kv: Kv,
    private readonly maxLogBatches: number,
    private readonly logger: Logger = silentLogger(),
  ) {
    this.mirror = new PrefixMirror(kv, ROOT, logger);
  }

  async start(): Promise<void> {
    if (this.unsubscribe !== undefined) return;
    this.unsubscribe = this.mirror.subscribe((c) => this.onChange(c));
    await this.mirror.start();
    for (const e of this.mirror.entriesUnder(keys.networksPrefix)) {
      const n = decode<NetworkRecord>(e.key, e.value);
      this.networks.set(n.id, n);
    }
    this.workload.load((prefix) => this.mirror.entriesUnder(prefix), this.networks);
    this.seeds = this.computeSeeds();
    this.managers = this.computeManagers();
    this.cluster = this.computeCluster();
    [this.dataKeys, this.gossipKeys] = this.computeKeys();
    this.logFloor = this.mirror.currentRevision;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.mirror.stop();
  }

  get revision(): number {
    return this.mirror.currentRevision;
  }

  /** The whole-store mirror, which transactions may read from (see store/txn.ts). */
  get reader(): PrefixMirror {
    return this.mirror;
  }

  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    return this.mirror.waitFor(revision, timeoutMs);
  }

  /** The whole intent as `nodeId` sees it (all of it but other nodes' tasks and endpoints). */
  snapshot(nodeId: string): IntentSnapshot {
    return {
      revision: this.revision,
      networks: [...this.networks.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
      seeds: [...this.seeds],
      managers: [...this.managers],
      cluster: this.cluster,
      services: this.workload.allServices(),
      tasks: this.workload.tasksOf(nodeId),
      ingressEndpoint: this.workload.endpointOf(nodeId),
      dataKeys: this.dataKeys,
      gossipKeys: this.gossipKeys,
    };
  }

  /**
   * Batches after `revision` as `nodeId`'s stream carries them (batches left empty are
   * dropped), or undefined if the log no longer reaches back there.
   */
  batchesAfter(revision: number, nodeId: string): ChangeBatch[] | undefined {
    if (revision < this.logFloor || revision > this.revision) return undefined;
    return this.log
      .filter((b) => b.revision > revision)
      .map((b) => forNode(b, nodeId))
      .filter((b) => b.changes.length > 0);
  }

  onBatch(fn: (b: ChangeBatch) => void): () => void {
    this.batchListeners.add(fn);
    return () => this.batchListeners.delete(fn);
  }

  onNode(fn: NodeListener): () => void {
    this.nodeListeners.add(fn);
    return () => this.nodeListeners.delete(fn);
  }

  node(id: string): NodeRecord | undefined {
    const e = this.mirror.entry(keys.node(id));
    return e === undefined ? undefined : decode<NodeRecord>(e.key, e.value);
  }

  managerAddresses(): string[] {
    return [...this.managers];
  }

  private onChange(c: MirrorChange): void {
    // Changes that arrive before start() finished loading are covered by the load.
    if (this.unsubscribe === undefined || this.logFloor === 0) return;
    const changes: IntentChange[] = [];
    let nodesTouched = false;
    let managersTouched = false;
    let clusterTouched = false;
    let networksTouched = false;
    let keysTouched = false;
    for (const e of c.events) {
      if (e.key.startsWith(keys.networksPrefix)) {
        networksTouched = true;
        changes.push(...this.networkChange(e));
      } else if (e.key.startsWith(keys.nodesPrefix)) {
        nodesTouched = true;
        const id = e.key.slice(keys.nodesPrefix.length);
        const node = e.type === "put" ? decode<NodeRecord>(e.key, e.value) : undefined;
        for (const fn of this.nodeListeners) fn(id, node);
      } else if (e.key.startsWith(keys.sessionsPrefix)) nodesTouched = true;
      else if (e.key.startsWith(keys.managersPrefix)) managersTouched = true;
      else if (e.key === keys.cluster) clusterTouched = true;
      else if (e.key.startsWith(keys.keysPrefix)) keysTouched = true;
    }
    changes.push(...this.workload.apply(c.events, this.networks, networksTouched));
    if (nodesTouched) {
      const seeds = this.computeSeeds();
      if (JSON.stringify(seeds) !== JSON.stringify(this.seeds)) {
        this.seeds = seeds;
        changes.push({ kind: "seeds", seeds });
      }
    }
    if (managersTouched) {
      const managers = this.computeManagers();
      if (JSON.stringify(managers) !== JSON.stringify(this.managers)) {
        this.managers = managers;
        changes.push({ kind: "managers", addresses: managers });
      }
    }
    if (clusterTouched) {
      const cluster = this.computeCluster();
      if (cluster !== undefined && JSON.stringify(cluster) !== JSON.stringify(this.cluster)) {
        this.cluster = cluster;
        changes.push({ kind: "cluster", settings: cluster });
      }
    }
    if (keysTouched) {
      const [dataKeys, gossipKeys] = this.computeKeys();
      if (!sameKeyRing(dataKeys, this.dataKeys) || !sameKeyRing(gossipKeys, this.gossipKeys)) {
        this.dataKeys = dataKeys;
        this.gossipKeys = gossipKeys;
        changes.push({ kind: "keys", dataKeys, gossipKeys });
      }
    }
    if (changes.length === 0) return;
    const batch: ChangeBatch = { revision: c.revision, changes };
    this.log.push(batch);
    while (this.log.length > this.maxLogBatches) {
      const dropped = this.log.shift();
      if (dropped !== undefined) this.logFloor = dropped.revision;
    }
    for (const fn of [...this.batchListeners]) {
      try {
        fn(batch);
      } catch (err) {
        this.logger.error({ err: String(err) }, "dispatcher batch listener failed");
      }
    }
  }

  private networkChange(e: KvEvent): IntentChange[] {
    const id = e.key.slice(keys.networksPrefix.length);
    if (e.type === "put") {
      const network = decode<NetworkRecord>(e.key, e.value);
      this.networks.set(id, network);
      return [{ kind: "networkUpsert", network }];
    }
    const old = this.networks.get(id);
    this.networks.delete(id);
    return [{ kind: "networkRemoved", id, name: old?.name ?? "" }];
  }

  private computeSeeds(): GossipSeed[] {
    const ready = new Set(
      this.mirror
        .entriesUnder(keys.sessionsPrefix)
        .map((e) => e.key.slice(keys.sessionsPrefix.length).split("/")[0]),
    );
    return this.mirror
      .entriesUnder(keys.nodesPrefix)
      .map((e) => decode<NodeRecord>(e.key, e.value))
      .filter((n) => ready.has(n.id))
      .map((n) => ({ nodeId: n.id, hostname: n.hostname, address: n.advertiseAddr }));
  }

  private computeManagers(): string[] {
    return this.mirror
      .entriesUnder(keys.managersPrefix)
      .map((e) => decode<ManagerRecord>(e.key, e.value).address)
      .sort();
  }

  /**
   * The data and gossip rings the stored keys stand for. Stored keys that make no valid
   * ring (a corrupt record) keep the rings agents have now, loudly: serving a broken
   * ring would cut every encrypted network.
   */
  private computeKeys(): [KeyRing | undefined, KeyRing | undefined] {
    try {
      const records = this.mirror
        .entriesUnder(keys.keysPrefix)
        .map((e) => decode<EncryptionKeyRecord>(e.key, e.value));
      return [ringFromRecords(records, "data"), ringFromRecords(records, "gossip")];
    } catch (err) {
      this.logger.error(
        { err: String(err) },
        "stored encryption keys make no valid ring; keeping the current rings",
      );
      return [this.dataKeys, this.gossipKeys];
    }
  }

  private computeCluster(): ClusterSettings | undefined {
    const e = this.mirror.entry(keys.cluster);
    if (e === undefined) return undefined;
    const c = decode<ClusterRecord>(e.key, e.value);
    return { clusterId: c.id, dataPathPort: c.dataPathPort };
  }
}

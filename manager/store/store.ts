/**
 * The typed store: records of `records.ts` at the keys of `keys.ts`, over any `Kv`
 * (etcd in production, `MemoryKv` in unit tests). Reads return typed records; changes
 * go through `transact`, which gives the function a `StoreTxn` (typed reads that guard
 * the commit, typed writes) and commits all of its writes as one transaction. Each
 * commit leaves a `commit` mark (its revision) in the trace ring (common/trace-ring.ts).
 */
import { trace } from "../../common/trace-ring.js";
import { keys } from "./keys.js";
import type { CachedKvReader, Kv, KvCompare, KvEntry } from "./kv.js";
import {
  decode,
  encode,
  type ClusterRecord,
  type ManagerRecord,
  type NetworkRecord,
  type NodeRecord,
  type SessionRecord,
} from "./records.js";
import { runTransaction, TXN_DEFAULTS, type TxnContext, type TxnOptions, type TxnOutcome } from "./txn.js";

export class StoreTxn {
  constructor(private readonly tx: TxnContext) {}

  async get<T extends object>(key: string): Promise<T | undefined> {
    const entry = await this.tx.get(key);
    return entry === undefined ? undefined : decode<T>(key, entry.value);
  }

  /** Whether `key` exists, guarding the commit on it staying so. */
  async exists(key: string): Promise<boolean> {
    return (await this.tx.get(key)) !== undefined;
  }

  /** The raw string value (index keys hold a bare id). */
  async getString(key: string): Promise<string | undefined> {
    return (await this.tx.get(key))?.value;
  }

  async list<T extends object>(prefix: string): Promise<T[]> {
    return (await this.tx.list(prefix)).map((e) => decode<T>(e.key, e.value));
  }

  /** Records with their keys (when the key itself carries data, e.g. a subnet). */
  async listEntries<T extends object>(prefix: string): Promise<{ key: string; value: T }[]> {
    return (await this.tx.list(prefix)).map((e) => ({ key: e.key, value: decode<T>(e.key, e.value) }));
  }

  async listKeys(prefix: string): Promise<string[]> {
    return (await this.tx.list(prefix)).map((e) => e.key);
  }

  expect(compare: KvCompare): void {
    this.tx.expect(compare);
  }

  put(key: string, record: object, lease?: string): void {
    this.tx.put(key, encode(record), lease);
  }

  putString(key: string, value: string): void {
    this.tx.put(key, value);
  }

  delete(key: string): void {
    this.tx.delete(key);
  }

  deletePrefix(prefix: string): void {
    this.tx.deletePrefix(prefix);
  }
}

export class Store {
  private reader: CachedKvReader | undefined;
  private readonly txnListeners: ((durationMs: number, ok: boolean) => void)[] = [];

  constructor(
    readonly kv: Kv,
    private readonly txnOptions: TxnOptions = TXN_DEFAULTS,
  ) {}

  /**
   * Lets transactions read from a local mirror of the store (one etcd round trip per
   * change instead of one per read; see txn.ts). Reads outside transactions stay direct.
   */
  readThrough(reader: CachedKvReader | undefined): void {
    this.reader = reader;
  }

  async transact<R>(fn: (tx: StoreTxn) => Promise<R>): Promise<TxnOutcome<R>> {
    const started = performance.now();
    let ok = false;
    try {
      const out = await runTransaction(this.kv, (tx) => fn(new StoreTxn(tx)), this.txnOptions, this.reader);
      ok = true;
      // The revision pairs this commit with its delivery on the agents' streams.
      if (out.revision > 0) trace.mark("commit", String(out.revision), { ms: performance.now() - started });
      return out;
    } finally {
      for (const l of this.txnListeners) l(performance.now() - started, ok);
    }
  }

  /** Called after every transaction with its duration (retries included) and outcome (metrics). */
  onTransact(listener: (durationMs: number, ok: boolean) => void): void {
    this.txnListeners.push(listener);
  }

  async get<T extends object>(key: string): Promise<T | undefined> {
    const { entry } = await this.kv.get(key);
    return entry === undefined ? undefined : decode<T>(key, entry.value);
  }

  async list<T extends object>(prefix: string): Promise<T[]> {
    const { entries } = await this.kv.list(prefix);
    return entries.map((e) => decode<T>(e.key, e.value));
  }

  async listEntries(prefix: string): Promise<KvEntry[]> {
    return (await this.kv.list(prefix)).entries;
  }

  getCluster(): Promise<ClusterRecord | undefined> {
    return this.get<ClusterRecord>(keys.cluster);
  }

  getNode(id: string): Promise<NodeRecord | undefined> {
    return this.get<NodeRecord>(keys.node(id));
  }

  listNodes(): Promise<NodeRecord[]> {
    return this.list<NodeRecord>(keys.nodesPrefix);
  }

  listSessions(): Promise<SessionRecord[]> {
    return this.list<SessionRecord>(keys.sessionsPrefix);
  }

  listManagers(): Promise<ManagerRecord[]> {
    return this.list<ManagerRecord>(keys.managersPrefix);
  }

  getNetwork(id: string): Promise<NetworkRecord | undefined> {
    return this.get<NetworkRecord>(keys.network(id));
  }

  listNetworks(): Promise<NetworkRecord[]> {
    return this.list<NetworkRecord>(keys.networksPrefix);
  }
}

/**
 * The small interface the manager needs from a key-value store: etcd's data model cut to
 * what swarmnet uses. Two implementations: `EtcdKv` (production, etcd v3 over gRPC) and
 * `MemoryKv` (unit tests, and anyone who wants a manager without etcd).
 *
 * Semantics follow etcd v3 exactly so the in-memory one can stand in for it:
 * - one global, monotonically increasing `revision`; every successful write transaction
 *   bumps it once and every key it touches gets that `modRevision`;
 * - `txn(compares, ops)` runs `ops` atomically iff every compare holds; a compare with
 *   `prefix` applies to every key under it, and on an empty range it compares the zero
 *   key (revision 0) — so `{prefix, target: "create", op: "==", value: 0}` means "no key
 *   under prefix" and `{prefix, target: "mod", op: "<", value: R + 1}` means "nothing
 *   under prefix was written after R";
 * - a watch delivers every change after `startRevision`, in order, in batches that share
 *   a revision; if that revision was compacted the watch reports `compacted` instead and
 *   the caller resyncs (see `watch.ts`);
 * - a lease owns keys and deletes them when it is revoked or expires.
 */

export interface KvEntry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

export interface KvCompare {
  key: string;
  /** Compare every key under `key` (a prefix) instead of the single key. */
  prefix?: boolean;
  target: "mod" | "create";
  op: "==" | "!=" | "<" | ">";
  value: number;
}

export type KvOp =
  | { type: "put"; key: string; value: string; lease?: string }
  | { type: "delete"; key: string; prefix?: boolean };

export interface KvTxnResult {
  succeeded: boolean;
  /** The store's revision after the transaction (unchanged if it failed). */
  revision: number;
}

export interface KvEvent {
  type: "put" | "delete";
  key: string;
  /** The new value for a put; "" for a delete. */
  value: string;
  modRevision: number;
}

export interface KvWatchListener {
  /** One or more events sharing `revision`, in commit order. */
  events(events: KvEvent[], revision: number): void;
  /** `startRevision` (or the resume point after a reconnect) was compacted away. */
  compacted(): void;
  /** The watch failed for another reason and will not deliver more. */
  failed(err: Error): void;
}

export interface KvWatch {
  cancel(): Promise<void>;
}

export interface KvLease {
  readonly id: string;
  /** Called once if the lease is lost (expired, or keep-alive failed for good). */
  onLost(fn: (err: Error) => void): void;
  revoke(): Promise<void>;
}

/** Where a transaction reads from: the store itself, or a consistent local copy of it. */
export interface KvReader {
  get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }>;
  list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }>;
}

/** A local copy that can say whether it covers a key and wait to catch up with a revision. */
export interface CachedKvReader extends KvReader {
  covers(key: string): boolean;
  waitFor(revision: number, timeoutMs: number): Promise<boolean>;
}

export interface Kv extends KvReader {
  txn(compares: readonly KvCompare[], ops: readonly KvOp[]): Promise<KvTxnResult>;
  /** Watches every key under `prefix`, from `startRevision` (inclusive). */
  watch(prefix: string, startRevision: number, listener: KvWatchListener): KvWatch;
  /** A lease of `ttlSeconds`, kept alive until revoked or lost. */
  grantLease(ttlSeconds: number): Promise<KvLease>;
  /** Drops history at or below `revision`; watches from there report `compacted`. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

/** Evaluates one compare against an entry (or the zero entry), as etcd does. */
export function compareHolds(c: KvCompare, entry: KvEntry | undefined): boolean {
  const actual = entry === undefined ? 0 : c.target === "mod" ? entry.modRevision : entry.createRevision;
  switch (c.op) {
    case "==":
      return actual === c.value;
    case "!=":
      return actual !== c.value;
    case "<":
      return actual < c.value;
    case ">":
      return actual > c.value;
  }
}

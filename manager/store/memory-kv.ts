/**
 * An in-memory `Kv` with etcd's semantics (revisions, compare-and-swap transactions,
 * watches from a past revision, compaction, leases). Product code, not a mock: unit tests
 * run the real store, IPAM and network logic on it, and it is the reference the etcd
 * implementation is checked against. Watch events are delivered asynchronously
 * (setImmediate) and in order, as a network would.
 *
 * Leases never expire by time here (no clock in a unit test should decide that); a test
 * ends one with `expireLease(id)`, which deletes its keys and reports it lost.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import {
  compareHolds,
  type Kv,
  type KvCompare,
  type KvEntry,
  type KvEvent,
  type KvLease,
  type KvOp,
  type KvTxnResult,
  type KvWatch,
  type KvWatchListener,
} from "./kv.js";

interface MemoryWatcher {
  prefix: string;
  listener: KvWatchListener;
  cancelled: boolean;
}

interface MemoryLease {
  id: string;
  keys: Set<string>;
  lost: ((err: Error) => void)[];
  alive: boolean;
}

export class MemoryKv implements Kv {
  private revision = 1;
  private compactRevision = 0;
  private readonly entries = new Map<string, KvEntry>();
  private readonly leaseOf = new Map<string, string>();
  private readonly leases = new Map<string, MemoryLease>();
  private readonly history: { revision: number; events: KvEvent[] }[] = [];
  private readonly watchers = new Set<MemoryWatcher>();
  private nextLease = 1;
  private closed = false;
  /** Number of transactions run, for tests that count round trips. */
  txnCount = 0;

  get currentRevision(): number {
    return this.revision;
  }

  async get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }> {
    this.checkOpen();
    const entry = this.entries.get(key);
    return { entry: entry === undefined ? undefined : { ...entry }, revision: this.revision };
  }

  async list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    this.checkOpen();
    return { entries: this.range(prefix).map((e) => ({ ...e })), revision: this.revision };
  }

  async txn(compares: readonly KvCompare[], ops: readonly KvOp[]): Promise<KvTxnResult> {
    this.checkOpen();
    this.txnCount++;
    checkDistinctKeys(ops);
    for (const c of compares) {
      const targets = c.prefix ? this.range(c.key) : [this.entries.get(c.key)].filter((e) => e !== undefined);
      if (targets.length === 0 ? !compareHolds(c, undefined) : !targets.every((e) => compareHolds(c, e))) {
        return { succeeded: false, revision: this.revision };
      }
    }
    for (const op of ops) {
      if (op.type === "put" && op.lease !== undefined && !this.leases.get(op.lease)?.alive) {
        throw new SwarmnetError(ErrorCode.NotFound, `lease ${op.lease} not found`);
      }
    }
    this.apply(ops);
    return { succeeded: true, revision: this.revision };
  }

  watch(prefix: string, startRevision: number, listener: KvWatchListener): KvWatch {
    this.checkOpen();
    const w: MemoryWatcher = { prefix, listener, cancelled: false };
    // Backlog and registration happen in one tick, so no event is missed or doubled.
    setImmediate(() => {
      if (w.cancelled || this.closed) return;
      if (startRevision > 0 && startRevision <= this.compactRevision) {
        w.cancelled = true;
        listener.compacted();
        return;
      }
      for (const h of this.history) {
        if (h.revision < startRevision) continue;
        const mine = h.events.filter((e) => e.key.startsWith(prefix));
        if (mine.length > 0) listener.events(mine, h.revision);
      }
      this.watchers.add(w);
    });
    return {
      cancel: async () => {
        w.cancelled = true;
        this.watchers.delete(w);
      },
    };
  }

  async grantLease(_ttlSeconds: number): Promise<KvLease> {
    this.checkOpen();
    const lease: MemoryLease = { id: String(this.nextLease++), keys: new Set(), lost: [], alive: true };
    this.leases.set(lease.id, lease);
    return {
      id: lease.id,
      onLost: (fn) => {
        lease.lost.push(fn);
      },
      revoke: async () => {
        this.endLease(lease.id);
      },
    };
  }

  /** Ends a lease as if its TTL ran out: its keys are deleted and its holder told. */
  expireLease(id: string): void {
    const lease = this.leases.get(id);
    if (lease === undefined || !lease.alive) return;
    this.endLease(id);
    for (const fn of lease.lost) fn(new SwarmnetError(ErrorCode.Unavailable, `lease ${id} expired`));
  }

  async compact(revision: number): Promise<void> {
    this.checkOpen();
    if (revision > this.revision) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `cannot compact to future revision ${revision}`);
    }
    this.compactRevision = Math.max(this.compactRevision, revision);
    while ((this.history[0]?.revision ?? Infinity) <= this.compactRevision) this.history.shift();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers) w.cancelled = true;
    this.watchers.clear();
  }

  private endLease(id: string): void {
    const lease = this.leases.get(id);
    if (lease === undefined || !lease.alive) return;
    lease.alive = false;
    this.apply([...lease.keys].map((key) => ({ type: "delete" as const, key })));
  }

  private range(prefix: string): KvEntry[] {
    return [...this.entries.values()].filter((e) => e.key.startsWith(prefix)).sort(byKey);
  }

  private apply(ops: readonly KvOp[]): void {
    const rev = this.revision + 1;
    const events: KvEvent[] = [];
    for (const op of ops) {
      if (op.type === "put") {
        const prev = this.entries.get(op.key);
        this.entries.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: prev?.createRevision ?? rev,
          modRevision: rev,
        });
        this.detachLease(op.key);
        if (op.lease !== undefined) {
          this.leaseOf.set(op.key, op.lease);
          this.leases.get(op.lease)?.keys.add(op.key);
        }
        events.push({ type: "put", key: op.key, value: op.value, modRevision: rev });
      } else {
        const keys = op.prefix ? this.range(op.key).map((e) => e.key) : [op.key];
        for (const key of keys) {
          if (!this.entries.delete(key)) continue;
          this.detachLease(key);
          events.push({ type: "delete", key, value: "", modRevision: rev });
        }
      }
    }
    if (events.length === 0) return;
    this.revision = rev;
    this.history.push({ revision: rev, events });
    for (const w of this.watchers) {
      const mine = events.filter((e) => e.key.startsWith(w.prefix));
      if (mine.length === 0) continue;
      setImmediate(() => {
        if (!w.cancelled) w.listener.events(mine, rev);
      });
    }
  }

  private detachLease(key: string): void {
    const lease = this.leaseOf.get(key);
    if (lease === undefined) return;
    this.leaseOf.delete(key);
    this.leases.get(lease)?.keys.delete(key);
  }

  private checkOpen(): void {
    if (this.closed) throw new SwarmnetError(ErrorCode.Unavailable, "store is closed");
  }
}

function byKey(a: KvEntry, b: KvEntry): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** etcd refuses a transaction that writes one key twice; so does this store. */
function checkDistinctKeys(ops: readonly KvOp[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    if (op.type === "put" || !op.prefix) {
      if (seen.has(op.key)) {
        throw new SwarmnetError(ErrorCode.Internal, `transaction writes key ${op.key} twice`);
      }
      seen.add(op.key);
    }
  }
}

/**
 * Optimistic transactions over a `Kv`: read what a decision needs, decide in plain code,
 * and commit every write as ONE etcd transaction guarded by compares on what was read.
 * If anything read changed in between, nothing is written and the whole function runs
 * again on fresh data (the etcd "STM" pattern, serializable for the conflicts that
 * matter here).
 *
 * Reads may come from a local mirror of the store (`CachedKvReader`, kept by a watch)
 * instead of etcd: the compares are the same ("unchanged since the revision I read
 * at"), so a stale mirror can only make the commit fail, never make it wrong; after a
 * failure the transaction waits for the mirror to reach the store's revision and runs
 * again. With a current mirror a change costs one round trip to etcd: the commit.
 *
 * What each read guards:
 * - `get(key)` → the key's mod revision is unchanged (or it is still absent), so a
 *   concurrent create of the same name, subnet key or VNI key makes the commit fail;
 * - `list(prefix)` → no key under the prefix was written after the read. A concurrent
 *   delete under the prefix is not detected, on purpose: in this store a deletion only
 *   frees something (a subnet, an address, a name), which never invalidates a decision
 *   made while it was taken.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { CachedKvReader, Kv, KvCompare, KvEntry, KvOp, KvReader } from "./kv.js";

export interface TxnOptions {
  /** Attempts before giving up with a retryable `Conflict` error. */
  maxAttempts: number;
  /** Upper bound of the random pause between attempts (spreads competing managers). */
  maxBackoffMs: number;
}

export const TXN_DEFAULTS: TxnOptions = {
  // Each attempt is one read round and one write round trip; 50 tolerates dozens of
  // managers hammering the same range before a caller sees an error.
  maxAttempts: 50,
  // Long enough to let a competing commit land, short against a 50 ms latency goal.
  maxBackoffMs: 20,
};

/** How long a failed transaction waits for the mirror before reading from the store. */
const MIRROR_CATCH_UP_MS = 1_000;

export class TxnContext {
  private readonly compares: KvCompare[] = [];
  private readonly ops: KvOp[] = [];
  private readonly written = new Map<string, KvOp>();
  private readonly deletedPrefixes: string[] = [];
  /** Reads are made (and guarded) once per key or prefix; later reads reuse them. */
  private readonly keyReads = new Map<string, Promise<KvEntry | undefined>>();
  private readonly prefixReads = new Map<string, Promise<KvEntry[]>>();

  constructor(
    private readonly kv: Kv,
    private readonly reader: CachedKvReader | undefined = undefined,
  ) {}

  private source(key: string): KvReader {
    return this.reader !== undefined && this.reader.covers(key) ? this.reader : this.kv;
  }

  /**
   * The value as this transaction would leave it: its own writes first (so several
   * decisions can be planned in one transaction, each seeing the ones before), then the
   * store, read once and guarded.
   */
  async get(key: string): Promise<KvEntry | undefined> {
    const own = this.written.get(key);
    if (own !== undefined) return own.type === "put" ? planned(own.key, own.value) : undefined;
    if (this.deletedPrefixes.some((p) => key.startsWith(p))) return undefined;
    let read = this.keyReads.get(key);
    if (read === undefined) {
      read = this.source(key)
        .get(key)
        .then(({ entry }) => {
          this.compares.push({ key, target: "mod", op: "==", value: entry?.modRevision ?? 0 });
          return entry;
        });
      this.keyReads.set(key, read);
    }
    return read;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    let read = this.prefixReads.get(prefix);
    if (read === undefined) {
      read = this.source(prefix)
        .list(prefix)
        .then(({ entries, revision }) => {
          this.compares.push({ key: prefix, prefix: true, target: "mod", op: "<", value: revision + 1 });
          return entries;
        });
      this.prefixReads.set(prefix, read);
    }
    const stored = await read;
    if (this.written.size === 0 && this.deletedPrefixes.length === 0) return stored;
    const view = new Map(stored.map((e) => [e.key, e]));
    for (const key of view.keys()) if (this.deletedPrefixes.some((p) => key.startsWith(p))) view.delete(key);
    for (const [key, op] of this.written) {
      if (!key.startsWith(prefix)) continue;
      if (op.type === "put") view.set(key, planned(key, op.value));
      else view.delete(key);
    }
    return [...view.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Adds a compare without reading (e.g. "no key under prefix" for a removal). */
  expect(compare: KvCompare): void {
    this.compares.push(compare);
  }

  put(key: string, value: string, lease?: string): void {
    this.write({ type: "put", key, value, ...(lease === undefined ? {} : { lease }) });
  }

  delete(key: string): void {
    this.write({ type: "delete", key });
  }

  deletePrefix(prefix: string): void {
    this.deletedPrefixes.push(prefix);
    this.ops.push({ type: "delete", key: prefix, prefix: true });
  }

  get writeCount(): number {
    return this.ops.length;
  }

  /** Later writes of a key replace earlier ones (etcd refuses one key twice in a txn). */
  private write(op: KvOp): void {
    const prev = this.written.get(op.key);
    if (prev !== undefined) this.ops.splice(this.ops.indexOf(prev), 1);
    this.written.set(op.key, op);
    this.ops.push(op);
  }

  /** @internal */
  async commit(): Promise<{ succeeded: boolean; revision: number }> {
    if (this.ops.length === 0 && this.compares.length === 0) return { succeeded: true, revision: 0 };
    // With no writes the compares still run: a refusal decided on a stale mirror ("that
    // name exists") is re-decided on fresh data instead of being returned.
    return this.kv.txn(this.compares, this.ops);
  }
}

/** An entry this transaction is about to write (no revision yet). */
function planned(key: string, value: string): KvEntry {
  return { key, value, createRevision: 0, modRevision: 0 };
}

export interface TxnOutcome<R> {
  result: R;
  /** Revision of the committed write (0 when the function wrote nothing). */
  revision: number;
  attempts: number;
}

/**
 * Runs `fn` until its writes commit. `fn` must be free of side effects other than the
 * context's reads and writes, since it may run several times; errors it throws (a bad
 * request, a full pool) end the transaction at once with nothing written.
 */
export async function runTransaction<R>(
  kv: Kv,
  fn: (tx: TxnContext) => Promise<R>,
  options: TxnOptions = TXN_DEFAULTS,
  reader?: CachedKvReader,
): Promise<TxnOutcome<R>> {
  let useReader = reader;
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    const tx = new TxnContext(kv, useReader);
    const result = await fn(tx);
    const { succeeded, revision } = await tx.commit();
    if (succeeded) return { result, revision, attempts: attempt };
    // Let the mirror catch up with what made us fail; if it cannot, read from the store.
    if (useReader !== undefined && !(await useReader.waitFor(revision, MIRROR_CATCH_UP_MS)))
      useReader = undefined;
    await new Promise((r) => setTimeout(r, Math.random() * options.maxBackoffMs));
  }
  throw new SwarmnetError(
    ErrorCode.Conflict,
    `too much contention: gave up after ${options.maxAttempts} attempts, try again`,
    { retryable: true },
  );
}

/**
 * Optimistic transactions over a `Kv`: read what a decision needs, decide in plain code,
 * and commit every write as ONE etcd transaction guarded by compares on what was read.
 * If anything read changed in between, nothing is written and the whole function runs
 * again on fresh data (the etcd "STM" pattern, serializable for the conflicts that
 * matter here).
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
import type { Kv, KvCompare, KvEntry, KvOp } from "./kv.js";

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

export class TxnContext {
  private readonly compares: KvCompare[] = [];
  private readonly ops: KvOp[] = [];
  private readonly written = new Map<string, KvOp>();

  constructor(private readonly kv: Kv) {}

  async get(key: string): Promise<KvEntry | undefined> {
    const { entry } = await this.kv.get(key);
    this.compares.push({ key, target: "mod", op: "==", value: entry?.modRevision ?? 0 });
    return entry;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const { entries, revision } = await this.kv.list(prefix);
    this.compares.push({ key: prefix, prefix: true, target: "mod", op: "<", value: revision + 1 });
    return entries;
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
    if (this.ops.length === 0) return { succeeded: true, revision: 0 };
    return this.kv.txn(this.compares, this.ops);
  }
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
): Promise<TxnOutcome<R>> {
  for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
    const tx = new TxnContext(kv);
    const result = await fn(tx);
    const { succeeded, revision } = await tx.commit();
    if (succeeded) return { result, revision, attempts: attempt };
    await new Promise((r) => setTimeout(r, Math.random() * options.maxBackoffMs));
  }
  throw new SwarmnetError(
    ErrorCode.Conflict,
    `too much contention: gave up after ${options.maxAttempts} attempts, try again`,
    { retryable: true },
  );
}

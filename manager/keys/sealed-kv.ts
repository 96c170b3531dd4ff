/**
 * A `Kv` that seals the records holding secrets before they reach etcd and opens them on
 * the way back, for every read path (get, list, watch events) — so the rest of the
 * manager (the store, the mirror, the intent view, the key manager) works on plaintext
 * records and never learns that etcd holds ciphertext. Sealed records:
 *
 *   /swarmnet/v1/cluster        join-token secrets, unlock key
 *   /swarmnet/v1/ca             the CA's signing key
 *   /swarmnet/v1/keys/…         data-plane and gossip keys
 *
 * Whole values are sealed (see vault.ts), with the key as AAD. Compares, leases and
 * revisions pass through untouched. A value stored before sealing existed (not prefixed)
 * is read as it is and sealed at its next write.
 */
import type {
  Kv,
  KvCompare,
  KvEntry,
  KvLease,
  KvOp,
  KvTxnResult,
  KvWatch,
  KvWatchListener,
} from "../store/kv.js";
import { keys } from "../store/keys.js";
import type { Vault } from "./vault.js";

export function isSecretKey(key: string): boolean {
  return key === keys.cluster || key === keys.ca || key.startsWith(keys.keysPrefix);
}

export class SealedKv implements Kv {
  constructor(
    readonly inner: Kv,
    private readonly vault: Vault,
  ) {}

  private open(e: KvEntry): KvEntry {
    return isSecretKey(e.key) ? { ...e, value: this.vault.open(e.key, e.value) } : e;
  }

  async get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }> {
    const r = await this.inner.get(key);
    return { entry: r.entry === undefined ? undefined : this.open(r.entry), revision: r.revision };
  }

  async list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    const r = await this.inner.list(prefix);
    return { entries: r.entries.map((e) => this.open(e)), revision: r.revision };
  }

  txn(compares: readonly KvCompare[], ops: readonly KvOp[]): Promise<KvTxnResult> {
    return this.inner.txn(
      compares,
      ops.map((op) =>
        op.type === "put" && isSecretKey(op.key) ? { ...op, value: this.vault.seal(op.key, op.value) } : op,
      ),
    );
  }

  watch(prefix: string, startRevision: number, listener: KvWatchListener): KvWatch {
    return this.inner.watch(prefix, startRevision, {
      events: (events, revision) => {
        let opened;
        try {
          opened = events.map((e) =>
            e.type === "put" && isSecretKey(e.key) ? { ...e, value: this.vault.open(e.key, e.value) } : e,
          );
        } catch (err) {
          listener.failed(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        listener.events(opened, revision);
      },
      compacted: () => listener.compacted(),
      failed: (err) => listener.failed(err),
    });
  }

  grantLease(ttlSeconds: number): Promise<KvLease> {
    return this.inner.grantLease(ttlSeconds);
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

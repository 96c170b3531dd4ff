/**
 * `Kv` over etcd v3 with the `etcd3` client: the one boundary where etcd and gRPC errors
 * become `SwarmnetError`s (`Unavailable`, retryable, naming etcd).
 *
 * Transactions go through the raw KV client rather than etcd3's builder because the store
 * needs range compares (`range_end`: "no key under this prefix changed since R"), which
 * the builder cannot express. Non-stream calls get a deadline, so a partitioned member
 * turns into an error instead of a hang; etcd3 retries a failed call on another endpoint.
 *
 * TLS: with `tls` (the CA that signed etcd's certificates, and this manager's client
 * certificate and key), every call is mutual TLS and the members' certificates must name
 * `etcd` (the fixed TLS server name: no IP address as SNI); plain `http://` endpoints are
 * accepted on loopback only (manager/config.ts refuses the rest).
 *
 * Watches: etcd3 re-creates a watch after a lost stream, but it resumes from the revision
 * it saw in the last *created* response, which can skip events still in flight. So this
 * wrapper tracks the next revision it owes its listener, rewinds the request to it on
 * every disconnect, and drops anything older (duplicates). A resume point that etcd has
 * compacted ends the watch with `compacted()`; the caller resyncs (see `watch.ts`).
 */
import { Etcd3, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { ErrorCode, SwarmnetError, errorMessage } from "../../common/errors.js";
import type {
  Kv,
  KvCompare,
  KvEntry,
  KvEvent,
  KvLease,
  KvOp,
  KvTxnResult,
  KvWatch,
  KvWatchListener,
} from "./kv.js";

export interface EtcdKvOptions {
  /** Client URLs, e.g. http://127.0.0.1:2379. */
  endpoints: string[];
  /** Deadline of every non-stream call. */
  callTimeoutMs: number;
  /** PEM contents: etcd's CA, this client's certificate and key. */
  tls?: { ca: string; cert: string; key: string } | undefined;
}

/** The TLS name etcd members' certificates carry (deploy/lab/etcd-tls.ts issues them). */
export const ETCD_TLS_SERVER_NAME = "etcd";

const COMPARE_OP = { "==": "Equal", "!=": "NotEqual", "<": "Less", ">": "Greater" } as const;

export class EtcdKv implements Kv {
  private readonly client: Etcd3;

  constructor(options: EtcdKvOptions) {
    const tls = options.tls;
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: options.callTimeoutMs,
      ...(tls === undefined
        ? {}
        : {
            credentials: {
              rootCertificate: Buffer.from(tls.ca),
              certChain: Buffer.from(tls.cert),
              privateKey: Buffer.from(tls.key),
            },
            grpcOptions: { "grpc.ssl_target_name_override": ETCD_TLS_SERVER_NAME },
          }),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    });
  }

  async get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }> {
    const res = await etcdCall("get", () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return { entry: kv === undefined ? undefined : toEntry(kv), revision: Number(res.header.revision) };
  }

  async list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    const res = await etcdCall("list", () =>
      this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) }),
    );
    return { entries: res.kvs.map(toEntry), revision: Number(res.header.revision) };
  }

  async txn(compares: readonly KvCompare[], ops: readonly KvOp[]): Promise<KvTxnResult> {
    const res = await etcdCall("txn", () =>
      this.client.kv.txn({
        compare: compares.map((c) => ({
          key: Buffer.from(c.key),
          ...(c.prefix ? { range_end: prefixEnd(c.key) } : {}),
          target: c.target === "mod" ? "Mod" : "Create",
          result: COMPARE_OP[c.op],
          ...(c.target === "mod" ? { mod_revision: c.value } : { create_revision: c.value }),
        })),
        success: ops.map((op) =>
          op.type === "put"
            ? {
                request_put: {
                  key: Buffer.from(op.key),
                  value: Buffer.from(op.value),
                  ...(op.lease === undefined ? {} : { lease: op.lease }),
                },
              }
            : {
                request_delete_range: {
                  key: Buffer.from(op.key),
                  ...(op.prefix ? { range_end: prefixEnd(op.key) } : {}),
                },
              },
        ),
        failure: [],
      }),
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  watch(prefix: string, startRevision: number, listener: KvWatchListener): KvWatch {
    let next = startRevision;
    let done = false;
    const watcher: Watcher = this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(Math.max(1, startRevision)))
      .watcher();
    watcher.on("data", (res) => {
      if (done) return;
      // One response may span several revisions: deliver one batch per revision.
      const batches = new Map<number, KvEvent[]>();
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        if (rev < next) continue;
        const event: KvEvent = {
          type: ev.type === "Put" ? "put" : "delete",
          key: ev.kv.key.toString(),
          value: ev.type === "Put" ? ev.kv.value.toString() : "",
          modRevision: rev,
        };
        const batch = batches.get(rev);
        if (batch === undefined) batches.set(rev, [event]);
        else batch.push(event);
      }
      for (const [rev, events] of [...batches].sort((a, b) => a[0] - b[0])) {
        next = rev + 1;
        listener.events(events, rev);
      }
    });
    watcher.on("disconnected", () => {
      // Resume exactly where the listener is, not where etcd3 last connected.
      watcher.request.start_revision = String(next);
    });
    watcher.on("error", (err) => {
      if (done) return;
      done = true;
      void watcher.cancel().catch(() => {});
      // etcd cancels a watch whose start revision was compacted; 3.4 sends no reason
      // ("Watcher canceled: "), so any cancel we did not ask for means "resync".
      if (/compact|Watcher canceled/i.test(err.message)) listener.compacted();
      else listener.failed(translate("watch", err));
    });
    return {
      cancel: async () => {
        done = true;
        await watcher.cancel().catch(() => {});
      },
    };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const lease: Lease = this.client.lease(ttlSeconds);
    const lost: ((err: Error) => void)[] = [];
    let revoked = false;
    lease.on("lost", (err) => {
      if (revoked) return;
      for (const fn of lost) fn(translate("lease", err));
    });
    const id = await etcdCall("lease grant", () => lease.grant());
    return {
      id,
      onLost: (fn) => {
        lost.push(fn);
      },
      revoke: async () => {
        revoked = true;
        await lease.revoke().catch(() => {
          // Unreachable etcd: the lease ends by itself when its TTL runs out.
          lease.release();
        });
      },
    };
  }

  async compact(revision: number): Promise<void> {
    await etcdCall("compact", () => this.client.kv.compact({ revision, physical: false }));
  }

  /** The raw client, for etcd3's election (see `election/`). */
  get etcd(): Etcd3 {
    return this.client;
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

function toEntry(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

/** The range end that makes `[prefix, end)` mean "every key under prefix" (etcd's "key + 1"). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    const b = buf[i] as number;
    if (b < 0xff) {
      const out = Buffer.from(buf.subarray(0, i + 1));
      out[i] = b + 1;
      return out;
    }
  }
  return Buffer.from([0]);
}

async function etcdCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(what, err);
  }
}

function translate(what: string, err: unknown): SwarmnetError {
  if (err instanceof SwarmnetError) return err;
  const message = errorMessage(err).split("\n")[0] ?? "";
  if (/compacted/i.test(message)) {
    return new SwarmnetError(ErrorCode.InvalidArgument, `etcd ${what}: ${message}`, { cause: err });
  }
  return new SwarmnetError(ErrorCode.Unavailable, `etcd ${what} failed: ${message}`, {
    cause: err,
    retryable: true,
  });
}

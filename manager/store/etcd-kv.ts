/**
 * `Kv` over etcd v3 with the `etcd3` client: the one boundary where etcd and gRPC errors
 * become `SwarmnetError`s, in words of the cluster store, never the library's ("circuit
 * breaker", "Resolution note", connection dumps stay in `cause` and the logs):
 *   QuorumLost   fewer than a majority of the members answer (store-health.ts decides,
 *                within about two seconds of a call starting)
 *   Unavailable  no answer in time or no connection while quorum holds (retryable)
 *   InvalidArgument  a compacted revision (the caller resyncs)
 *
 * Fault handling (etcd3's cockatiel policies): etcd3's defaults retry a failed call three
 * times on fresh deadlines and open a five-second circuit breaker per member, so a store
 * without quorum held a command 17.6 s and then kept refusing for seconds after it came
 * back. Here a call is retried once (another member, if one refused at once), a member
 * that failed three times in a row is skipped for one second only, a member that did not
 * answer `StoreHealth`'s probe is skipped until it answers one (its breaker isolated: no
 * call waits out a deadline on a stopped member), and `StoreHealth` ends any call early
 * once quorum is found lost.
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
import {
  circuitBreaker,
  ConsecutiveBreaker,
  handleWhen,
  isBrokenCircuitError,
  noop,
  retry,
  type CircuitBreakerPolicy,
  type IDisposable,
} from "cockatiel";
import { Etcd3, isRecoverableError, type IKeyValue, type Lease, type Watcher } from "etcd3";
import { ErrorCode, SwarmnetError, errorMessage } from "../../common/errors.js";
import { plainFirstLine } from "../../common/grpc-errors.js";
import { ETCD_TLS_SERVER_NAME } from "../config.js";
import { STORE_HEALTH_DEFAULTS, StoreHealth } from "./store-health.js";
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

const COMPARE_OP = { "==": "Equal", "!=": "NotEqual", "<": "Less", ">": "Greater" } as const;

/** etcd3's fault policies (see the header). */
const FAULTS = {
  // Skip a member after 3 failures in a row, for 1 s: long enough not to wait on a
  // stopped member again at once, short enough that a restored one is used again soon.
  hostBreakerOpenMs: 1_000,
  hostBreakerFailures: 3,
  // One retry: another member, when the first refused at once.
  retries: 1,
} as const;

function connectOptions(tls: EtcdKvOptions["tls"]) {
  return tls === undefined
    ? {}
    : {
        credentials: {
          rootCertificate: Buffer.from(tls.ca),
          certChain: Buffer.from(tls.cert),
          privateKey: Buffer.from(tls.key),
        },
        grpcOptions: { "grpc.ssl_target_name_override": ETCD_TLS_SERVER_NAME },
      };
}

export class EtcdKv implements Kv {
  private readonly client: Etcd3;
  /** One client per member, for the health probes (no retries, no breaker). */
  private readonly probes = new Map<string, Etcd3>();
  /** Each member's breaker in the main client, and its isolation while it is silent. */
  private readonly breakers = new Map<string, { policy: CircuitBreakerPolicy; isolated?: IDisposable }>();
  readonly health: StoreHealth;

  constructor(options: EtcdKvOptions) {
    const tls = options.tls;
    this.client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: options.callTimeoutMs,
      ...connectOptions(tls),
      faultHandling: {
        host: (endpoint) => {
          const policy = circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: FAULTS.hostBreakerOpenMs,
            breaker: new ConsecutiveBreaker(FAULTS.hostBreakerFailures),
          });
          this.breakers.set(endpoint, { policy });
          return policy;
        },
        global: retry(handleWhen(isRecoverableError), { maxAttempts: FAULTS.retries }),
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    });
    this.health = new StoreHealth({
      ...STORE_HEALTH_DEFAULTS,
      endpoints: options.endpoints,
      probe: (endpoint, timeoutMs) => this.probe(endpoint, timeoutMs, tls),
      onMember: (endpoint, answered) => this.isolate(endpoint, !answered),
    });
  }

  /** Stops (or resumes) sending calls to a member, by its breaker. */
  private isolate(endpoint: string, silent: boolean): void {
    const b = this.breakers.get(endpoint);
    if (b === undefined) return;
    if (silent && b.isolated === undefined) b.isolated = b.policy.isolate();
    if (!silent && b.isolated !== undefined) {
      b.isolated.dispose();
      b.isolated = undefined;
    }
  }

  /** Asks one member its status (answered by the member alone, quorum or not). */
  private async probe(endpoint: string, timeoutMs: number, tls: EtcdKvOptions["tls"]): Promise<void> {
    let client = this.probes.get(endpoint);
    if (client === undefined) {
      client = new Etcd3({
        hosts: [endpoint],
        dialTimeout: timeoutMs,
        ...connectOptions(tls),
        faultHandling: { host: () => noop, global: noop },
      });
      this.probes.set(endpoint, client);
    }
    await client.maintenance.status({ deadline: Date.now() + timeoutMs });
  }

  /** One non-stream etcd call behind the quorum guard, its errors translated. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.health.guard(
      () => etcdCall(what, fn),
      (err) => err instanceof SwarmnetError && err.code === ErrorCode.Unavailable,
    );
  }

  async get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }> {
    const res = await this.call("get", () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return { entry: kv === undefined ? undefined : toEntry(kv), revision: Number(res.header.revision) };
  }

  async list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    const res = await this.call("list", () =>
      this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) }),
    );
    return { entries: res.kvs.map(toEntry), revision: Number(res.header.revision) };
  }

  async txn(compares: readonly KvCompare[], ops: readonly KvOp[]): Promise<KvTxnResult> {
    const res = await this.call("txn", () =>
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
    const id = await this.call("lease grant", () => lease.grant());
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
    await this.call("compact", () => this.client.kv.compact({ revision, physical: false }));
  }

  /** The raw client, for etcd3's election (see `election/`). */
  get etcd(): Etcd3 {
    return this.client;
  }

  async close(): Promise<void> {
    this.health.close();
    for (const c of this.probes.values()) c.close();
    this.probes.clear();
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

/**
 * An etcd3 or gRPC failure in the store's words. Compaction is an answer the caller acts
 * on; a failure to answer (no connection, late, a member skipped by the breaker) is
 * "the store did not answer"; any other refusal keeps etcd's own first line ("etcdserver:
 * request is too large") without the client library's additions.
 */
export function translate(what: string, err: unknown): SwarmnetError {
  if (err instanceof SwarmnetError) return err;
  const message = errorMessage(err);
  if (/compacted/i.test(message)) {
    return new SwarmnetError(ErrorCode.InvalidArgument, `cluster store ${what}: the revision was compacted`, {
      cause: err,
    });
  }
  const noAnswer =
    (err instanceof Error && (isRecoverableError(err) || isBrokenCircuitError(err))) ||
    /unavailable|deadline|timed? ?out|connect|circuit breaker|socket|closed/i.test(message);
  if (noAnswer) {
    const late = /deadline|timed? ?out/i.test(message);
    return new SwarmnetError(
      ErrorCode.Unavailable,
      late
        ? `the cluster store (etcd) did not answer ${what} in time: try again`
        : `the cluster store (etcd) cannot be reached for ${what}: try again`,
      { cause: err, retryable: true },
    );
  }
  return new SwarmnetError(
    ErrorCode.Internal,
    `the cluster store refused ${what}: ${plainFirstLine(message)}`,
    {
      cause: err,
    },
  );
}

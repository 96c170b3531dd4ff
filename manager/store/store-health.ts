/**
 * Whether the cluster store (etcd) has quorum, as this manager sees it, so a call to a
 * store without quorum fails in about two seconds with a message a person can act on
 * ("the cluster store has lost quorum (1 of 3 members reachable): …") instead of hanging
 * on etcd's timeouts and retries and then printing a library's text (issue 17: 17.6 s,
 * then "circuit breaker is open").
 *
 * etcd gives no quick "no quorum" answer: a member that lost its peers keeps the request
 * until the request times out. So this watches the calls instead of the members:
 *
 *   ok     calls go to etcd. One still pending after `slowCallMs`, or one that failed as
 *          unreachable or late, starts a probe round: every member is asked its status
 *          (served by the member alone, no quorum needed) within `probeTimeoutMs`. Fewer
 *          than a majority answering means quorum is lost.
 *   lost   every pending call is rejected at once with the quorum error, and so is every
 *          new call, without touching etcd; a probe round runs every `recheckMs` and the
 *          first one that finds a majority turns the state back to ok — restoring a
 *          member makes commands work again without restarting anything.
 *
 * Each round that finds quorum also says which members did not answer (`onMember`), so
 * the client can stop sending calls to them (EtcdKv isolates their circuit breakers)
 * instead of waiting out a deadline on a stopped member — never a majority, so a loaded
 * machine's slow answers cannot shut the client off every member; while any member is
 * silent the rounds go on every `recheckMs`, so one that comes back is used again within
 * about that long. A call that succeeds during a round proves quorum whatever the probes
 * said (a probe that missed its deadline on a loaded machine is no verdict).
 *
 * Members are the endpoints the manager is given (the lab gives every member); a member
 * that is stopped (SIGSTOP), cut off or down does not answer its probe. A slow but
 * healthy store only starts probes, which find the majority and change nothing. Probes
 * are injected (`MemberProbe`), so unit tests drive this without an etcd.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

/** Resolves when the member at `endpoint` answers within `timeoutMs`, rejects otherwise. */
export type MemberProbe = (endpoint: string, timeoutMs: number) => Promise<void>;

export interface StoreHealthOptions {
  endpoints: readonly string[];
  probe: MemberProbe;
  /** A call pending this long starts a probe round. */
  slowCallMs: number;
  /** How long a member has to answer its probe. */
  probeTimeoutMs: number;
  /** While quorum is lost or a member is silent, how often the members are probed again. */
  recheckMs: number;
  /** Told after each round whether each member answered. */
  onMember?: (endpoint: string, answered: boolean) => void;
}

export const STORE_HEALTH_DEFAULTS = {
  // A healthy etcd answers in milliseconds; 300 ms pending is worth a look.
  slowCallMs: 300,
  // A status call is answered by the member alone, in milliseconds on a quiet machine but
  // past a second at times under load; slowCallMs + probeTimeoutMs (1.8 s) bounds how long
  // a call waits on a store without quorum, inside the 3 s.
  probeTimeoutMs: 1_500,
  // Commands work again within about this long after quorum returns.
  recheckMs: 500,
} as const;

/** Where the README explains quorum loss and what to do. */
export const QUORUM_HELP = "README.md#when-the-cluster-store-loses-quorum";

export interface QuorumView {
  reachable: number;
  members: number;
}

export function hasQuorum(v: QuorumView): boolean {
  return v.reachable > v.members / 2;
}

export function quorumLostError(v: QuorumView): SwarmnetError {
  return new SwarmnetError(
    ErrorCode.QuorumLost,
    `the cluster store has lost quorum (${v.reachable} of ${v.members} members reachable): restore a member or see ${QUORUM_HELP}`,
    { retryable: true },
  );
}

export class StoreHealth {
  private lost: QuorumView | undefined;
  /** When a call last succeeded (Date.now()). */
  private lastOkMs = 0;
  private round: Promise<QuorumView> | undefined;
  private recheck: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<(err: SwarmnetError) => void>();
  private closed = false;

  constructor(private readonly opts: StoreHealthOptions) {}

  /** The last verdict: undefined while quorum is held. */
  get lostView(): QuorumView | undefined {
    return this.lost;
  }

  /**
   * Runs `call` unless quorum is known lost; rejects it with the quorum error as soon as
   * quorum is found lost while it is pending. `unreachable(err)` tells a failure that
   * may mean "no quorum" (a timeout, no connection) from an answer.
   */
  async guard<T>(call: () => Promise<T>, unreachable: (err: unknown) => boolean): Promise<T> {
    if (this.lost !== undefined) throw quorumLostError(this.lost);
    let reject: ((err: SwarmnetError) => void) | undefined;
    const lostWhilePending = new Promise<never>((_, r) => {
      reject = r;
    });
    const waiter = (err: SwarmnetError) => reject?.(err);
    this.waiters.add(waiter);
    const slow = setTimeout(() => void this.probeRound(), this.opts.slowCallMs);
    slow.unref();
    try {
      const result = await Promise.race([call(), lostWhilePending]);
      this.lastOkMs = Date.now();
      return result;
    } catch (err) {
      if (err instanceof SwarmnetError && err.code === ErrorCode.QuorumLost) throw err;
      if (unreachable(err)) {
        await this.probeRound();
        if (this.lost !== undefined) throw quorumLostError(this.lost);
      }
      throw err;
    } finally {
      clearTimeout(slow);
      this.waiters.delete(waiter);
    }
  }

  /** One round of probes (joined if one is in flight); updates the verdict. */
  probeRound(): Promise<QuorumView> {
    this.round ??= this.probeAll().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  close(): void {
    this.closed = true;
    if (this.recheck !== undefined) clearTimeout(this.recheck);
  }

  private async probeAll(): Promise<QuorumView> {
    const started = Date.now();
    const answers = await Promise.allSettled(
      this.opts.endpoints.map((e) => this.opts.probe(e, this.opts.probeTimeoutMs)),
    );
    const view = {
      reachable: answers.filter((a) => a.status === "fulfilled").length,
      members: this.opts.endpoints.length,
    };
    if (hasQuorum(view))
      answers.forEach((a, i) =>
        this.opts.onMember?.(this.opts.endpoints[i] as string, a.status === "fulfilled"),
      );
    if (hasQuorum(view) || this.lastOkMs >= started) this.lost = undefined;
    else {
      this.lost = view;
      const err = quorumLostError(view);
      for (const w of [...this.waiters]) w(err);
    }
    if (view.reachable < view.members) this.scheduleRecheck();
    return view;
  }

  private scheduleRecheck(): void {
    if (this.closed || this.recheck !== undefined) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      void this.probeRound();
    }, this.opts.recheckMs);
    this.recheck.unref();
  }
}

/**
 * Runs one function as passes, never two at once, at a bounded frequency — after
 * kube-proxy's BoundedFrequencyRunner, the model for "something changed, bring the kernel
 * in line":
 *
 *   - a request starts a pass at once, unless one started less than `minIntervalMs` ago
 *     (then it starts when that interval ends);
 *   - requests that arrive while a pass runs or waits coalesce into the next pass: a burst
 *     of N requests costs at most two passes (the one running, one more);
 *   - a resync pass runs at least every `maxIntervalMs`, with or without requests: the
 *     periodic resync that repairs drift (it is flagged `resync` so the work can skip its
 *     caches). The period counts from the end of the last resync pass, not of any pass: a
 *     runner touched more often than its period (an overlay under steady gossip) still
 *     resyncs on time;
 *   - a failed pass is retried after a backoff (`retryInitialMs`, doubling up to
 *     `retryMaxMs`) without anyone asking, and the waiters of that pass see its error.
 *
 * `run()` returns a promise for the first pass that *starts* after the call, so a caller
 * that changed state and awaits `run()` knows its change was acted on (or why not).
 * Every pass is timed; `stats` is what the metrics read. One instance serves one piece of
 * work; the agent's reconcilers have one each, so a slow or failing one never holds back
 * another.
 */
import { RealClock, type Clock, type TimerHandle } from "./clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "./errors.js";

export interface BoundedFrequencyOptions {
  /** Shortest time between the starts of two passes; requests inside it coalesce. */
  minIntervalMs: number;
  /** Longest time without a resync pass: one runs then. `Infinity`: no periodic pass. */
  maxIntervalMs: number;
  /** Wait after the first failed pass; doubles with every further failure. */
  retryInitialMs: number;
  retryMaxMs: number;
  clock?: Clock;
}

export interface PassInfo {
  /** The periodic pass, or a caller asked for one: do not trust what earlier passes cached. */
  resync: boolean;
}

export interface PassResult {
  durationMs: number;
  /**
   * From the first request this pass serves (or the periodic or retry timer that asked for
   * it) to its start: the time a change waited for the kernel work to begin.
   */
  waitMs: number;
  /** undefined: the pass succeeded. */
  error: unknown;
  resync: boolean;
}

export interface RunnerStats {
  passes: number;
  failures: number;
  consecutiveFailures: number;
  lastDurationMs: number;
  /** Clock time of the last successful pass's end; undefined before the first. */
  lastSuccessAt: number | undefined;
  lastError: string | undefined;
  /** A pass is wanted and has not started yet. */
  pending: boolean;
}

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Fire-and-forget requests must not turn a failed pass into an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class BoundedFrequencyRunner {
  private readonly clock: Clock;
  private next: Waiters | undefined;
  private requested = false;
  /** Clock time of the first request the next pass serves. */
  private requestedAt = 0;
  private resyncWanted = false;
  private immediateWanted = false;
  private inFlight = false;
  private started = false;
  private stopped = false;
  private lastStart = -Infinity;
  private retryAt = -Infinity;
  private timer: TimerHandle | undefined;
  private periodic: TimerHandle | undefined;
  private readonly listeners: ((r: PassResult) => void)[] = [];
  readonly stats: RunnerStats = {
    passes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastDurationMs: 0,
    lastSuccessAt: undefined,
    lastError: undefined,
    pending: false,
  };

  constructor(
    private readonly work: (pass: PassInfo) => Promise<void>,
    private readonly options: BoundedFrequencyOptions,
  ) {
    this.clock = options.clock ?? new RealClock();
  }

  /** Arms the periodic pass (idempotent); requests work before start too. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.armPeriodic();
  }

  /**
   * For good (idempotent): timers cancelled, a pass in flight finishes, nothing new starts,
   * and whoever still waits for a pass is told it will not come.
   */
  stop(): void {
    this.started = false;
    this.stopped = true;
    this.next?.reject(new SwarmnetError(ErrorCode.Unavailable, "stopped"));
    this.next = undefined;
    this.requested = false;
    this.periodic?.cancel();
    this.periodic = undefined;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Asks for a pass; settles with the outcome of the first pass that starts after this call.
   * `immediate`: do not wait out the minimum interval (still never two passes at once) —
   * for an explicit request such as a test's or a person's, not for event storms.
   */
  run(options: { resync?: boolean; immediate?: boolean } = {}): Promise<void> {
    if (this.stopped) return Promise.reject(new SwarmnetError(ErrorCode.Unavailable, "stopped"));
    this.request();
    if (options.resync === true) this.resyncWanted = true;
    if (options.immediate === true) {
      this.immediateWanted = true;
      this.timer?.cancel();
      this.timer = undefined;
    }
    this.next ??= waiters();
    const promise = this.next.promise;
    this.schedule();
    return promise;
  }

  /** Called after every pass with its duration and outcome (metrics, logs). */
  onPass(listener: (r: PassResult) => void): void {
    this.listeners.push(listener);
  }

  private schedule(): void {
    this.stats.pending = this.requested;
    if (this.stopped || this.inFlight || this.timer !== undefined || !this.requested) return;
    const due = this.immediateWanted
      ? -Infinity
      : Math.max(this.lastStart + this.options.minIntervalMs, this.retryAt);
    const delay = due - this.clock.now();
    if (delay <= 0) {
      void this.pass();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.pass();
    }, delay);
  }

  /** A pass is wanted; the first request since the last start is when the wait begins. */
  private request(at: number = this.clock.now()): void {
    if (!this.requested) this.requestedAt = at;
    this.requested = true;
  }

  private async pass(): Promise<void> {
    const w = this.next;
    const resync = this.resyncWanted;
    const requestedAt = this.requestedAt;
    this.next = undefined;
    this.requested = false;
    this.resyncWanted = false;
    this.immediateWanted = false;
    this.stats.pending = false;
    this.inFlight = true;
    const started = this.clock.now();
    this.lastStart = started;
    let error: unknown;
    try {
      await this.work({ resync });
    } catch (err) {
      error = err ?? new Error("pass failed");
    }
    const ended = this.clock.now();
    this.inFlight = false;
    this.stats.passes++;
    this.stats.lastDurationMs = ended - started;
    if (error === undefined) {
      this.stats.consecutiveFailures = 0;
      this.stats.lastSuccessAt = ended;
      this.stats.lastError = undefined;
      this.retryAt = -Infinity;
      w?.resolve();
    } else {
      this.stats.failures++;
      this.stats.consecutiveFailures++;
      this.stats.lastError = errorMessage(error);
      const backoff = Math.min(
        this.options.retryMaxMs,
        this.options.retryInitialMs * 2 ** (this.stats.consecutiveFailures - 1),
      );
      this.retryAt = ended + backoff;
      // The retry re-reads everything: a failure may have left the kernel unlike any cache.
      this.request(this.retryAt);
      this.resyncWanted = true;
      w?.reject(error);
    }
    const waitMs = Math.max(0, started - requestedAt);
    for (const l of this.listeners) l({ durationMs: ended - started, waitMs, error, resync });
    if (resync) this.armPeriodic();
    this.schedule();
  }

  private armPeriodic(): void {
    this.periodic?.cancel();
    this.periodic = undefined;
    if (!this.started || !Number.isFinite(this.options.maxIntervalMs)) return;
    this.periodic = this.clock.setTimeout(() => {
      this.periodic = undefined;
      this.request();
      this.resyncWanted = true;
      this.schedule();
    }, this.options.maxIntervalMs);
  }
}

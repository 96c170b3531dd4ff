/**
 * One suspicion timer (Lifeguard's dynamic suspicion). When member X is suspected, every
 * member that hears of it starts a timer at `max`; each *independent* accuser (a distinct
 * `from`) that confirms the suspicion shrinks it along remainingSuspicionTimeMs toward
 * `min`. A lone false accusation therefore takes long to kill, leaving X time to refute,
 * while a really dead X, which everybody's probes fail on, is declared quickly.
 * Confirmations beyond `expected` change nothing and are not re-gossiped.
 */
import type { Clock, TimerHandle } from "../../common/clock.js";
import { remainingSuspicionTimeMs } from "./protocol-math.js";

export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private confirmations = 0;
  private readonly startMs: number;
  private timer: TimerHandle;
  private fired = false;

  constructor(
    from: string,
    private readonly expected: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly clock: Clock,
    private readonly onTimeout: (confirmations: number) => void,
  ) {
    this.confirmedBy.add(from);
    this.startMs = clock.now();
    const first = expected > 0 ? maxMs : minMs;
    this.timer = clock.setTimeout(() => this.fire(), first);
  }

  /** Records an accusation from `from`; true when it was a new, useful confirmation. */
  confirm(from: string): boolean {
    if (this.fired || this.confirmations >= this.expected || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    this.confirmations++;
    const elapsed = this.clock.now() - this.startMs;
    const remaining = remainingSuspicionTimeMs(
      this.confirmations,
      this.expected,
      elapsed,
      this.minMs,
      this.maxMs,
    );
    this.timer.cancel();
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, remaining));
    return true;
  }

  cancel(): void {
    this.fired = true;
    this.timer.cancel();
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.onTimeout(this.confirmations);
  }
}

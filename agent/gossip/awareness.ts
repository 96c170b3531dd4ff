/**
 * Lifeguard's local health awareness (LHA). A member that misses acks it should have got,
 * or has to refute suspicions about itself, is probably the slow one (CPU starved, GC,
 * lossy NIC) — so instead of accusing healthy peers it stretches its own probe interval
 * and timeout by (score + 1). The score moves by small deltas and is held in
 * [0, awarenessMaxMultiplier − 1]:
 *   +1 a probe failed with no indirect helper to ask, or per expected nack that never came
 *   +1 we had to refute a suspicion or death about ourselves
 *   −1 a probe was acked
 * The multiplier is therefore capped at awarenessMaxMultiplier (8× on LAN).
 */

export class Awareness {
  private score = 0;

  constructor(private readonly maxMultiplier: number) {}

  applyDelta(delta: number): void {
    this.score = Math.min(this.maxMultiplier - 1, Math.max(0, this.score + delta));
  }

  /** 0 is healthy; higher is worse. */
  get healthScore(): number {
    return this.score;
  }

  scaleTimeout(ms: number): number {
    return ms * (this.score + 1);
  }
}

/**
 * The seeded random source of a chaos run: mulberry32 (a 32-bit state, one multiply-xorshift
 * step per draw). Tiny, fast and fully determined by its seed, which is all a scenario
 * needs: the same seed gives the same targets and the same choices, run after run. Not for
 * anything secret.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** `count` distinct items of `from` (in draw order); always draws `count` numbers. */
  pick<T>(from: readonly T[], count = 1): T[] {
    const pool = [...from];
    const out: T[] = [];
    for (let i = 0; i < count; i++) {
      const r = this.next();
      if (pool.length === 0) continue;
      const [item] = pool.splice(Math.floor(r * pool.length), 1);
      if (item !== undefined) out.push(item);
    }
    return out;
  }
}

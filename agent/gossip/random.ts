/**
 * Randomness as an injected dependency. SWIM picks probe orders, gossip targets and
 * indirect-probe helpers at random; the simulator must replay a run exactly from a seed,
 * so every random choice in this folder goes through `Random`. The seeded generator is
 * mulberry32 (32-bit state, good enough statistics for choosing peers, a few ns a call);
 * it is not for keys or nonces, which come from node:crypto in keyring.ts.
 */

export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

export const mathRandom: Random = { next: () => Math.random() };

/** A deterministic generator: the same seed gives the same sequence. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}

/** Fisher–Yates, in place. */
export function shuffle<T>(random: Random, items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
}

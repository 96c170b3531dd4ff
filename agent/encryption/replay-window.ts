/**
 * Anti-replay sliding window over record sequence numbers (the nonce counter), after
 * RFC 6479: a ring of 32-bit words, advanced by clearing whole words, so checking and
 * advancing cost O(1) however far the sequence jumps. It accepts each number once, and
 * rejects numbers more than `size` below the highest seen.
 *
 * Check before decrypting (cheap rejection), commit only after the record authenticated:
 * a forged record must never move the window.
 */

export type ReplayVerdict = "ok" | "replay" | "too-old";

const WORD_BITS = 32;

export class ReplayWindow {
  private readonly words: Uint32Array;
  private readonly wordMask: number;
  /** Highest committed sequence number; -1 before the first. */
  private top = -1;
  /** Sequence numbers this far below `top` or more are too old. */
  readonly size: number;

  constructor(size: number) {
    // One spare word so the word being filled never overlaps the oldest one in the window.
    let n = 1;
    while (n < Math.ceil(size / WORD_BITS) + 1) n *= 2;
    this.words = new Uint32Array(n);
    this.wordMask = n - 1;
    this.size = (n - 1) * WORD_BITS;
  }

  get highest(): number {
    return this.top;
  }

  check(seq: number): ReplayVerdict {
    if (this.top < 0 || seq > this.top) return "ok";
    if (seq <= this.top - this.size) return "too-old";
    const word = this.words[Math.floor(seq / WORD_BITS) & this.wordMask] as number;
    return (word >>> (seq % WORD_BITS)) & 1 ? "replay" : "ok";
  }

  commit(seq: number): void {
    if (seq > this.top) {
      const from = this.top < 0 ? Math.floor(seq / WORD_BITS) : Math.floor(this.top / WORD_BITS) + 1;
      const to = Math.floor(seq / WORD_BITS);
      const steps = Math.min(to - from + 1, this.words.length);
      for (let i = 0; i < steps; i++) this.words[(to - i) & this.wordMask] = 0;
      this.top = seq;
    }
    const idx = Math.floor(seq / WORD_BITS) & this.wordMask;
    this.words[idx] = ((this.words[idx] as number) | (1 << (seq % WORD_BITS))) >>> 0;
  }
}

/**
 * Nonces of the user-space datapath: never reused under one key, also across restarts.
 *
 * Nonce (12 bytes, the AES-GCM IV) = prefix (4 bytes, random per datapath process)
 *                                   ‖ counter (8 bytes, big-endian).
 * The counter is also the record's sequence number for the receiver's replay window, so
 * it must keep increasing across restarts too. Formula:
 *     counter = max(previous + 1, wall-clock milliseconds × 1024)
 * A restarted sender starts above everything it sent before as long as it averaged fewer
 * than 1024 records per millisecond (a million per second; the datapath does a few
 * thousand), and the counter stays an exact JavaScript integer until the year 2248.
 * Keys are per direction and key tag (key-derivation.ts), so only one sender process uses
 * a key at a time; the random prefix additionally separates two processes whose clocks
 * overlap (a clock stepped backwards between restarts): a nonce repeats only if both the
 * prefix (1 in 2^32) and the counter range collide.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export const NONCE_BYTES = 12;
export const COUNTER_PER_MS = 1024;

export class NonceSequence {
  /** The per-process prefix, a u32. */
  readonly prefix: number;
  private last = 0;

  /**
   * @param randomU32 source of the prefix (crypto-random in production).
   * @param wallClockMs wall-clock time in ms (Date.now in production; never the monotonic
   *   clock, which restarts with the process).
   */
  constructor(
    randomU32: () => number,
    private readonly wallClockMs: () => number,
  ) {
    this.prefix = randomU32() >>> 0;
  }

  /** The next counter value: strictly greater than the last one. */
  next(): number {
    const floor = Math.floor(this.wallClockMs()) * COUNTER_PER_MS;
    const c = Math.max(this.last + 1, floor);
    if (!Number.isSafeInteger(c)) {
      throw new SwarmnetError(ErrorCode.Internal, "nonce counter exhausted; restart the datapath");
    }
    this.last = c;
    return c;
  }

  /** Writes prefix ‖ next counter into `buf` at `offset`; returns the counter. */
  write(buf: Buffer, offset: number): number {
    const c = this.next();
    buf.writeUInt32BE(this.prefix, offset);
    buf.writeUInt32BE(Math.floor(c / 2 ** 32), offset + 4);
    buf.writeUInt32BE(c >>> 0, offset + 8);
    return c;
  }
}

/**
 * A Lamport clock (Lamport 1978): a counter that every local event increments and every
 * received timestamp pushes forward (witness), so "happened after" implies "larger time"
 * across nodes without synchronised wall clocks. NetworkDB keeps two, as Serf and
 * Docker's NetworkDB do: one for network join/leave events, one for table entries.
 * 32 bits (the wire's uint32): 4 billion table changes in a cluster's life is far beyond
 * endpoint churn; at the top it saturates rather than wrapping to "older than everything".
 */

const MAX = 0xffffffff;

export class LamportClock {
  private t = 0;

  get time(): number {
    return this.t;
  }

  /** A new local event: the next time. */
  increment(): number {
    if (this.t < MAX) this.t++;
    return this.t;
  }

  /** Someone else's event at `time`: our next event must come after it. */
  witness(time: number): void {
    if (time > this.t) this.t = Math.min(MAX, time);
  }
}

/**
 * A Lamport clock (Lamport 1978): a counter that every local event increments and every
 * received timestamp pushes forward (witness), so "happened after" implies "larger time"
 * across nodes without synchronised wall clocks. NetworkDB keeps two, as Serf and
 * Docker's NetworkDB do: one for network join/leave events, one for table entries.
 * 32 bits (the wire's uint32): 4 billion table changes in a cluster's life is far beyond
 * endpoint churn; at the top it saturates rather than wrapping to "older than everything".
 *
 * A member's own times must also never repeat across restarts of its process: a new
 * process that starts again at 0 makes the same first events at the same times as the
 * last one did (an agent publishes its entries in the same order on every start), and two
 * different versions of an entry with one (time, owner) are "the same" everywhere — the
 * others keep the old one and the owner ignores news of it, for good (chaos
 * `rolling-agent-restart` left a removed task's endpoint in every other node's mesh).
 * `DurableLamportClock` keeps a ceiling on stable storage, saved before any time beyond
 * it is issued, so a restarted process starts above every time its predecessor used.
 */

const MAX = 0xffffffff;

export class LamportClock {
  protected t: number;

  constructor(start = 0) {
    this.t = Math.min(MAX, Math.max(0, start));
  }

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

/** Times reserved per save: one small file write per this many own events. */
export const CLOCK_RESERVE = 1000;

/**
 * A Lamport clock that starts at `start` — the ceiling its previous process saved — and
 * saves a new ceiling (through `save`, before the time is issued) whenever its own next
 * time would pass the current one. See the header.
 */
export class DurableLamportClock extends LamportClock {
  private ceiling: number;

  constructor(
    start: number,
    private readonly save: (ceiling: number) => void,
    private readonly reserve = CLOCK_RESERVE,
  ) {
    super(start);
    this.ceiling = this.t;
  }

  override increment(): number {
    if (this.t + 1 > this.ceiling && this.ceiling < MAX) {
      this.ceiling = Math.min(MAX, this.t + 1 + this.reserve);
      this.save(this.ceiling);
    }
    return super.increment();
  }
}

/** Where a member's two clocks stand on stable storage. */
export interface ClockCeilings {
  network: number;
  table: number;
}

/**
 * A member's network and table clocks, starting at `ceilings`; a new ceiling is written
 * into `ceilings` and handed to `persist` (the whole pair) before it is used.
 */
export function durableClockPair(
  ceilings: ClockCeilings,
  persist: (ceilings: ClockCeilings) => void,
): { network: DurableLamportClock; table: DurableLamportClock } {
  const save = (which: keyof ClockCeilings) => (ceiling: number) => {
    ceilings[which] = ceiling;
    persist(ceilings);
  };
  return {
    network: new DurableLamportClock(ceilings.network, save("network")),
    table: new DurableLamportClock(ceilings.table, save("table")),
  };
}

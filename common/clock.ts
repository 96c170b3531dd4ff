/**
 * Time as an injected dependency. Protocol state machines (gossip, leases, rotation)
 * take a `Clock` so tests and the simulated network drive them on virtual time:
 * `VirtualClock.advance(ms)` runs every due timer in time order, deterministically.
 * Real timers are `unref()`ed so a forgotten timer never keeps a process alive.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since an arbitrary fixed origin; only differences are meaningful. */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  setInterval(fn: () => void, periodMs: number): TimerHandle;
}

export class RealClock implements Clock {
  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    const t = setInterval(fn, Math.max(1, periodMs));
    t.unref();
    return { cancel: () => clearInterval(t) };
  }
}

interface VirtualTimer {
  at: number;
  seq: number;
  fn: () => void;
  periodMs: number | undefined;
  cancelled: boolean;
}

/**
 * A clock that only moves when told to. Timers due at the same instant fire in the order
 * they were set. A binary heap keeps `advance` O(log n) per timer, which matters when the
 * gossip benchmark runs thousands of members on one clock.
 */
export class VirtualClock implements Clock {
  private current = 0;
  private seq = 0;
  private readonly heap: VirtualTimer[] = [];

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.schedule(fn, Math.max(0, delayMs), undefined);
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    return this.schedule(fn, Math.max(1, periodMs), Math.max(1, periodMs));
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > target) break;
      this.pop();
      if (top.cancelled) continue;
      this.current = top.at;
      if (top.periodMs !== undefined) {
        top.at += top.periodMs;
        top.seq = this.seq++;
        this.push(top);
      }
      top.fn();
    }
    this.current = Math.max(this.current, target);
  }

  private schedule(fn: () => void, delayMs: number, periodMs: number | undefined): TimerHandle {
    const timer: VirtualTimer = {
      at: this.current + delayMs,
      seq: this.seq++,
      fn,
      periodMs,
      cancelled: false,
    };
    this.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  private less(a: VirtualTimer, b: VirtualTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: VirtualTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as VirtualTimer;
      if (!this.less(t, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = t;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = last;
      let at = -1;
      const lv = h[l];
      const rv = h[r];
      if (lv !== undefined && this.less(lv, smallest)) {
        smallest = lv;
        at = l;
      }
      if (rv !== undefined && this.less(rv, smallest)) {
        smallest = rv;
        at = r;
      }
      if (at < 0) break;
      h[i] = smallest;
      i = at;
    }
    h[i] = last;
  }
}

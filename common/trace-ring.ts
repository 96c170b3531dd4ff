/**
 * Where a change spends its time, as the components see it: a small, bounded, in-memory
 * ring of timestamped marks per process, served as JSON on the process's loopback HTTP
 * endpoint (`/trace`, beside `/metrics`) and read by `bench lab-e2e`, which pairs the
 * marks of one change across processes into stages (see the bench's header).
 *
 * A mark is `{ t, stage, key, f? }`: wall time in ms (every process of a lab shares one
 * kernel clock, so marks of different processes compare), what happened, the id that
 * follows the change (a container id, an endpoint key, an etcd revision, a reconciler's
 * name), and a few optional fields (durations, a revision, a change's kind). Marks carry
 * ids, names and times only — never a key, token or spec — because the ring is served
 * without authentication, as the metrics are.
 *
 * Why a ring and not histograms: a stage's duration is a difference between marks made
 * in two processes (a commit on a manager, its delivery on an agent), and only ids pair
 * them. Why one ring per process (module state, like prom-client's default registry)
 * rather than one handed to every constructor: marks come from a dozen owners on the
 * change path, none of which should grow a parameter for diagnostics. Recording is one
 * object into a fixed-size array; nothing else happens on the hot path, and the oldest
 * marks are overwritten, so memory stays bounded whatever runs.
 */
import type { RouteHandler } from "./http-endpoint.js";

export type TraceFields = Record<string, number | string | boolean>;

export interface TraceMark {
  /** Wall time, ms since the epoch. */
  t: number;
  stage: string;
  key: string;
  f?: TraceFields;
}

/** Marks kept per process: a few minutes of a busy lab node (~100 bytes each). */
export const TRACE_RING_SIZE = 8192;

export class TraceRing {
  private readonly marks: (TraceMark | undefined)[];
  private next = 0;

  constructor(readonly size: number = TRACE_RING_SIZE) {
    this.marks = new Array<TraceMark | undefined>(size);
  }

  /** Records `stage` for `key` now (or at `t`, when the caller already took the time). */
  mark(stage: string, key: string, f?: TraceFields, t: number = wallNow()): void {
    this.marks[this.next] = f === undefined ? { t, stage, key } : { t, stage, key, f };
    this.next = (this.next + 1) % this.size;
  }

  /** The marks at or after `since` (ms since the epoch), oldest first. */
  since(since = 0): TraceMark[] {
    const out: TraceMark[] = [];
    for (let i = 0; i < this.size; i++) {
      const m = this.marks[(this.next + i) % this.size];
      if (m !== undefined && m.t >= since) out.push(m);
    }
    return out;
  }
}

/**
 * Wall time in ms. Date.now(), not `performance.timeOrigin + performance.now()`: the
 * latter is monotonic from the process's start and drifts from the wall clock (and so
 * from other processes) while NTP slews it; whole milliseconds are fine for stages of
 * milliseconds and more.
 */
export function wallNow(): number {
  return Date.now();
}

/** This process's ring. */
export const trace = new TraceRing();

/** `GET /trace[?since=<ms since the epoch>]` → `{ now, marks }`. */
export function traceRoute(ring: TraceRing = trace): RouteHandler {
  return (req, res) => {
    const since = Number(new URL(req.url ?? "/", "http://localhost").searchParams.get("since") ?? 0);
    const body = JSON.stringify({ now: wallNow(), marks: ring.since(Number.isFinite(since) ? since : 0) });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  };
}

/**
 * Drives the agent's reconcilers: one bounded-frequency runner each (common/), all fed from
 * the same node snapshot. What a change touches is decided by the caller (`touch(names)`,
 * from the typed intent events and the endpoint table's changes, see triggers.ts); a
 * reconciler not touched does nothing, and one touched whose desired state did not change
 * skips its kernel work. Each reconciler's periodic pass is a resync (kernel re-read).
 *
 * Independence: a reconciler that throws is retried with backoff by its own runner while
 * the others go on — a broken overlay never holds back the routing mesh. A reconciler may
 * name others to touch after it applied (`invalidates`): encryption becoming ready changes
 * what the overlay may program.
 *
 * `sync(names)` is for callers that changed state and must know the kernel followed (a
 * container run returns only once its endpoints exist): it resolves when a pass of each
 * named reconciler that started after the call succeeded, and rejects with the first error.
 *
 * Every pass leaves one `reconcile` mark in the process's trace ring (common/trace-ring.ts),
 * keyed by the reconciler: when it started and ended (wall time: `start` is comparable
 * with other marks of the process), how long the change waited for it (`wait`,
 * from the first request it serves), how long `apply` — the kernel work — took, whether it
 * applied, skipped or failed, and the intent revision it saw. `bench lab-e2e` pairs these
 * with the marks of the change that asked for the pass.
 */
import {
  BoundedFrequencyRunner,
  type PassResult,
  type RunnerStats,
} from "../../common/bounded-frequency-runner.js";
import type { Clock } from "../../common/clock.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { trace, wallNow } from "../../common/trace-ring.js";
import type { NodeSnapshot } from "../node-snapshot.js";
import type { Reconciler } from "./reconciler.js";

export interface ReconcileLoopOptions {
  /** Shortest time between two passes of one reconciler: bursts inside it coalesce. */
  minIntervalMs: number;
  /** Default period of a reconciler's resync pass. */
  resyncIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  clock?: Clock;
  log: Logger;
}

export interface ReconcilerEntry {
  reconciler: Reconciler;
  /** Period of its resync pass; the loop's default when absent. */
  resyncIntervalMs?: number;
  /** Reconcilers to touch after this one applied a change. */
  invalidates?: readonly string[];
}

export interface ReconcilerStats extends RunnerStats {
  name: string;
  /** Passes whose desired state had changed (or a resync): the kernel was worked on. */
  applied: number;
  /** Passes that found the desired state unchanged and did nothing. */
  skipped: number;
  /** Resync passes started (periodic, asked for, or a retry after a failure): no cache trusted. */
  resyncs: number;
}

interface Lane {
  entry: ReconcilerEntry;
  runner: BoundedFrequencyRunner;
  last: { value: unknown } | undefined;
  applied: number;
  skipped: number;
  resyncs: number;
  /** What the pass in flight did, for its trace mark (`start`: wall time). */
  pass: { start: number; applyMs: number; revision: number };
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class ReconcileLoop {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly snapshot: () => NodeSnapshot,
    entries: readonly ReconcilerEntry[],
    private readonly options: ReconcileLoopOptions,
  ) {
    for (const entry of entries) this.add(entry);
  }

  names(): string[] {
    return [...this.lanes.keys()];
  }

  start(): void {
    for (const lane of this.lanes.values()) lane.runner.start();
  }

  stop(): void {
    for (const lane of this.lanes.values()) lane.runner.stop();
  }

  /** Asks the named reconcilers (all when omitted) for a pass; fire and forget. */
  touch(names?: Iterable<string>): void {
    for (const lane of this.select(names)) void lane.runner.run();
  }

  /** A pass of each named reconciler (all when omitted) that starts after this call. */
  async sync(names?: Iterable<string>, options: { resync?: boolean } = {}): Promise<void> {
    const results = await Promise.allSettled(this.select(names).map((l) => l.runner.run(options)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /** Called after every pass of every reconciler (metrics, tests). */
  onPass(listener: (name: string, r: PassResult) => void): void {
    for (const [name, lane] of this.lanes) lane.runner.onPass((r) => listener(name, r));
  }

  stats(): ReconcilerStats[] {
    return [...this.lanes.values()].map((l) => ({
      ...l.runner.stats,
      name: l.entry.reconciler.name,
      applied: l.applied,
      skipped: l.skipped,
      resyncs: l.resyncs,
    }));
  }

  private select(names: Iterable<string> | undefined): Lane[] {
    if (names === undefined) return [...this.lanes.values()];
    const out: Lane[] = [];
    for (const n of new Set(names)) {
      const lane = this.lanes.get(n);
      if (lane !== undefined) out.push(lane);
    }
    return out;
  }

  private add(entry: ReconcilerEntry): void {
    const r = entry.reconciler;
    const same = r.same ?? deepEqual;
    const lane: Lane = {
      entry,
      last: undefined,
      applied: 0,
      skipped: 0,
      resyncs: 0,
      pass: { start: 0, applyMs: -1, revision: 0 },
      runner: new BoundedFrequencyRunner(
        async ({ resync }) => {
          if (resync) lane.resyncs++;
          const snapshot = this.snapshot();
          lane.pass = { start: wallNow(), applyMs: -1, revision: snapshot.intent?.revision ?? 0 };
          const desired = r.desired(snapshot);
          if (desired === undefined) {
            lane.skipped++;
            return;
          }
          if (!resync && lane.last !== undefined && same(lane.last.value, desired)) {
            lane.skipped++;
            return;
          }
          const applyStart = performance.now();
          await r.apply(desired, { resync });
          lane.pass.applyMs = performance.now() - applyStart;
          lane.last = { value: desired };
          lane.applied++;
          if (entry.invalidates !== undefined) this.touch(entry.invalidates);
        },
        {
          minIntervalMs: this.options.minIntervalMs,
          maxIntervalMs: entry.resyncIntervalMs ?? this.options.resyncIntervalMs,
          retryInitialMs: this.options.retryInitialMs,
          retryMaxMs: this.options.retryMaxMs,
          ...(this.options.clock === undefined ? {} : { clock: this.options.clock }),
        },
      ),
    };
    lane.runner.onPass((p) => {
      trace.mark("reconcile", r.name, {
        start: lane.pass.start,
        wait: p.waitMs,
        ms: p.durationMs,
        apply: lane.pass.applyMs,
        result: p.error !== undefined ? "failed" : lane.pass.applyMs >= 0 ? "applied" : "skipped",
        resync: p.resync,
        rev: lane.pass.revision,
      });
      if (p.error !== undefined) {
        this.options.log.error(
          { reconciler: r.name, err: errorMessage(p.error), failures: lane.runner.stats.consecutiveFailures },
          "reconcile failed; retrying with backoff",
        );
      }
    });
    this.lanes.set(r.name, lane);
  }
}

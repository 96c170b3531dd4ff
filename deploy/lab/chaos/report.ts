/**
 * The chaos report: per fault (each step that acted), the requests sent while it was the
 * latest fault, how many failed, how many failed through nodes the scenario did not
 * disturb, and the time to recover (from the fault to the last such failure); the
 * invariants with their evidence; and the short table the CLI prints. Pure: it reads the
 * records, the timeline and the invariant results, and builds plain data.
 *
 * Which requests count for recovery: through the routing mesh (client → node) and to the
 * VIP from the probe container, unless the node they enter through (the probe's node for
 * the VIP) was disturbed at the time: those are expected to fail and are reported apart.
 * Requests to one task's address are counted, never used for recovery: a rescheduled
 * task's old address is meant to stop answering.
 *
 * Detection: for a fault on nodes, the first time any other agent's gossip held one of
 * them dead (the observer's once-a-second samples, so within a second). Recovery beside
 * detection is what the routing mesh adds to gossip: a crashed node's backends are
 * withdrawn once gossip calls it dead, so recovery should end about then.
 */
import type { DeathSample } from "./observer.js";
import type { RequestRecord } from "./traffic.js";
import type { ChaosEvent, Timeline } from "./timeline.js";

export interface SourcedRecord extends RequestRecord {
  /** The node the request enters the cluster through. */
  via: string;
  /** Counted for recovery (mesh and VIP), or only counted (by task address). */
  recovery: boolean;
}

export interface FaultReport {
  index: number;
  step: string;
  nodes: string[];
  /** Milliseconds from the start of the run. */
  atMs: number;
  /** How long the step itself took to act. */
  tookMs: number;
  detail: string[];
  requests: number;
  failed: number;
  /** Failures through nodes the scenario had not disturbed: what recovery measures. */
  failedHealthy: number;
  recoveryMs: number;
  /** From the fault until gossip first held one of its nodes dead; absent when none did. */
  detectedMs?: number;
}

export interface InvariantResult {
  name: string;
  held: boolean;
  evidence: string[];
}

export interface ChaosReport {
  scenario: string;
  description: string;
  seed: number;
  lab: string;
  startedAt: string;
  durationMs: number;
  settleMs: number;
  requests: { total: number; failed: number; failedHealthy: number };
  perTarget: Record<string, { total: number; failed: number }>;
  faults: FaultReport[];
  recovery: { p50Ms: number; maxMs: number; boundMs: number };
  invariants: InvariantResult[];
  held: boolean;
  files: { report: string; svg: string };
}

export function excused(r: SourcedRecord, timeline: Timeline): boolean {
  return timeline.disturbedAt(r.via, r.t);
}

export function faultReports(
  events: readonly ChaosEvent[],
  records: readonly SourcedRecord[],
  timeline: Timeline,
  start: number,
  end: number,
  deaths: readonly DeathSample[] = [],
): FaultReport[] {
  return events.map((ev, i) => {
    const until = events[i + 1]?.at ?? end;
    const window = records.filter((r) => r.t >= ev.at && r.t < until);
    const healthyFailures = window.filter((r) => !r.ok && r.recovery && !excused(r, timeline));
    const last = healthyFailures[healthyFailures.length - 1];
    const detected = deaths.find((d) => d.at >= ev.at && d.at < until && ev.nodes.includes(d.member));
    return {
      index: ev.index,
      step: ev.text,
      nodes: ev.nodes,
      atMs: ev.at - start,
      tookMs: ev.endedAt - ev.at,
      detail: ev.detail,
      requests: window.length,
      failed: window.filter((r) => !r.ok).length,
      failedHealthy: healthyFailures.length,
      recoveryMs: last === undefined ? 0 : last.t - ev.at,
      ...(detected === undefined ? {} : { detectedMs: detected.at - ev.at }),
    };
  });
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export function perTarget(
  records: readonly RequestRecord[],
): Record<string, { total: number; failed: number }> {
  const out: Record<string, { total: number; failed: number }> = {};
  for (const r of records) {
    const e = (out[r.id] ??= { total: 0, failed: 0 });
    e.total += 1;
    if (!r.ok) e.failed += 1;
  }
  return out;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The terminal summary: one line, a table of faults, the invariants. */
export function renderSummary(r: ChaosReport, table: (h: string[], rows: string[][]) => string): string {
  const lines = [
    `scenario ${r.scenario} (seed ${r.seed}): ${r.requests.total} requests, ${r.requests.failed} failed ` +
      `(${r.requests.failedHealthy} through undisturbed nodes); recovery p50 ${seconds(r.recovery.p50Ms)}, ` +
      `max ${seconds(r.recovery.maxMs)} (bound ${seconds(r.recovery.boundMs)}); settled in ${seconds(r.settleMs)}`,
    table(
      ["#", "AT", "FAULT", "TARGETS", "REQUESTS", "FAILED", "RECOVERY", "DETECTED"],
      r.faults.map((f) => [
        String(f.index),
        seconds(f.atMs),
        f.step,
        f.nodes.join(",") || "-",
        String(f.requests),
        `${f.failed} (${f.failedHealthy})`,
        seconds(f.recoveryMs),
        f.detectedMs === undefined ? "-" : seconds(f.detectedMs),
      ]),
    ),
    table(
      ["INVARIANT", "HELD", "EVIDENCE"],
      r.invariants.map((i) => [
        i.name,
        i.held ? "yes" : "NO",
        i.evidence.length === 0
          ? ""
          : `${i.evidence[0]}${i.evidence.length > 1 ? ` (+${i.evidence.length - 1} more)` : ""}`,
      ]),
    ),
    `report: ${r.files.report}`,
    `picture: ${r.files.svg}`,
  ];
  return lines.join("\n");
}

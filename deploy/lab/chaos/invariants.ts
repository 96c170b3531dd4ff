/**
 * The invariants of a chaos run, each a pure function from what was observed to held /
 * broken with evidence lines (the report prints the first, the JSON keeps all):
 *
 * 1. no intent lost: etcd's durable intent before and after is identical (intent.ts);
 * 2. no task lost or duplicated: each replica slot of each replicated service has exactly
 *    one running task on a live node in the intent, and exactly one container namespace
 *    on the live nodes' kernels (a task the intent replaced but a node still runs is a
 *    duplicate);
 * 3. no false deaths: no member seen dead (by gossip) that the scenario did not disturb;
 * 4. kernel state exact on every live node (kernel-state.ts);
 * 5. no plaintext on the underlay for encrypted networks (plaintext.ts);
 * 6. no process crashed unless the scenario ended it;
 * 7. recovery within the scenario's bound, for every fault;
 * 8. every step ran (a step that failed is evidence, and the rest of the run still reports).
 */
import type { Crash, DeathSample } from "./observer.js";
import { compareKernel, type Liveness, type NodeKernel } from "./kernel-state.js";
import { diffIntent, isRunning, type Intent } from "./intent.js";
import type { FaultReport, InvariantResult } from "./report.js";
import type { Timeline } from "./timeline.js";

const result = (name: string, evidence: string[]): InvariantResult => ({
  name,
  held: evidence.length === 0,
  evidence,
});

export const INVARIANT_NAMES = {
  intent: "no intent lost",
  tasks: "no task lost or duplicated",
  deaths: "no false deaths",
  kernel: "kernel state exact",
  plaintext: "no plaintext on the underlay",
  crashes: "no process crashed",
  recovery: "recovery within bound",
  steps: "every step ran",
} as const;

export function intentHeld(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): InvariantResult {
  return result(INVARIANT_NAMES.intent, diffIntent(before, after));
}

export function tasksHeld(
  intent: Intent,
  kernels: readonly NodeKernel[],
  liveness: Liveness,
): InvariantResult {
  const liveNodeIds = new Set([...liveness.live, ...liveness.tolerated]);
  const evidence: string[] = [];
  const nodeName = (id: string) => intent.nodes.get(id)?.name ?? id;
  for (const svc of intent.services.values()) {
    if (svc.mode !== "replicated") continue;
    const tasks = intent.tasks.filter((t) => t.serviceId === svc.id);
    for (let slot = 1; slot <= svc.replicas; slot++) {
      const running = tasks.filter((t) => t.slot === slot && isRunning(t) && liveNodeIds.has(t.nodeId));
      if (running.length === 0) evidence.push(`${svc.name}.${slot}: no running task`);
      if (running.length > 1)
        evidence.push(
          `${svc.name}.${slot}: ${running.length} running tasks (${running.map((t) => nodeName(t.nodeId)).join(", ")})`,
        );
      const holders = kernels.flatMap((k) =>
        k.containers
          .filter((c) => tasks.some((t) => t.slot === slot && t.id.startsWith(c)))
          .map(() => k.node),
      );
      if (holders.length > 1)
        evidence.push(`${svc.name}.${slot}: container namespaces on ${holders.join(", ")} (duplicate)`);
    }
    const extra = tasks.filter((t) => isRunning(t) && t.slot > svc.replicas);
    for (const t of extra) evidence.push(`${svc.name}.${t.slot}: running beyond ${svc.replicas} replicas`);
  }
  return result(INVARIANT_NAMES.tasks, evidence);
}

export function deathsHeld(
  deaths: readonly DeathSample[],
  timeline: Timeline,
  start: number,
): InvariantResult {
  const first = new Map<string, DeathSample>();
  for (const d of deaths) {
    if (timeline.deathExcused(d.observer, d.member, d.at)) continue;
    const key = `${d.observer}→${d.member}`;
    if (!first.has(key)) first.set(key, d);
  }
  return result(
    INVARIANT_NAMES.deaths,
    [...first.values()].map(
      (d) =>
        `${d.observer} saw ${d.member} dead at ${((d.at - start) / 1000).toFixed(1)} s; the scenario never disturbed either`,
    ),
  );
}

export function kernelHeld(
  kernels: readonly NodeKernel[],
  intent: Intent,
  liveness: Liveness,
): InvariantResult {
  return result(
    INVARIANT_NAMES.kernel,
    kernels.flatMap((k) => compareKernel(k, intent, liveness)),
  );
}

export function plaintextHeld(packets: number, vnis: readonly number[]): InvariantResult {
  return result(
    INVARIANT_NAMES.plaintext,
    packets > 0
      ? [`${packets} plaintext VXLAN packet(s) of encrypted VNI(s) ${vnis.join(", ")} crossed the underlay`]
      : [],
  );
}

export function crashesHeld(crashes: readonly Crash[], start: number): InvariantResult {
  return result(
    INVARIANT_NAMES.crashes,
    crashes.map(
      (c) =>
        `${c.kind} on ${c.node} (pid ${c.pid}) exited by itself at ${((c.at - start) / 1000).toFixed(1)} s${c.logTail.length ? `: ${c.logTail.join(" | ")}` : ""}`,
    ),
  );
}

export function recoveryHeld(faults: readonly FaultReport[], boundMs: number): InvariantResult {
  return result(
    INVARIANT_NAMES.recovery,
    faults
      .filter((f) => f.recoveryMs > boundMs)
      .map(
        (f) =>
          `after "${f.step}" requests through undisturbed nodes failed for ${(f.recoveryMs / 1000).toFixed(1)} s (bound ${(boundMs / 1000).toFixed(1)} s)`,
      ),
  );
}

export function stepsHeld(errors: readonly string[]): InvariantResult {
  return result(INVARIANT_NAMES.steps, [...errors]);
}

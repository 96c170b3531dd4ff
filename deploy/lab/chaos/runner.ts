/**
 * One chaos run on a running lab, start to finish:
 *
 *   validate the scenario against the lab (plan.ts: a bad target fails before anything)
 *   → make sure the workload exists and serves (setup.ts) → read etcd's intent
 *   → start traffic (client → every node's published port; probe container → VIP and
 *     task addresses) and the observer (process crashes, gossip deaths)
 *   → run the steps in order, each resolved against the live cluster at its moment
 *   → settle: poll the tasks and kernel invariants until they hold or the scenario's
 *     settle bound passes (traffic still running: recovery is measured through it)
 *   → stop everything, evaluate every invariant, write the JSON report and the SVG
 *     picture into the lab folder (`<lab>/chaos/<scenario>-seed<N>.{json,svg}`)
 *   → heal whatever the scenario left (so the next run meets a whole lab).
 *
 * A step that fails ends the timeline early; the run still settles and reports, with the
 * failure as evidence of the "every step ran" invariant.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../../../common/errors.js";
import { labDir } from "../state.js";
import { FaultInjector } from "./faults.js";
import { durableIntent, intentFrom, isRunning, type Intent } from "./intent.js";
import {
  crashesHeld,
  deathsHeld,
  intentHeld,
  kernelHeld,
  plaintextHeld,
  recoveryHeld,
  stepsHeld,
  tasksHeld,
} from "./invariants.js";
import { readNodeKernel, type Liveness, type NodeKernel } from "./kernel-state.js";
import type { LabAccess } from "./lab-access.js";
import { Observer } from "./observer.js";
import { plaintextPackets, unwatchUnderlay, watchUnderlay } from "./plaintext.js";
import { Planner, planScenario, staticView, type PlannedStep } from "./plan.js";
import { faultReports, percentile, perTarget, type ChaosReport, type SourcedRecord } from "./report.js";
import type { Scenario } from "./scenario.js";
import { ensureSetup, serviceVip, SETUP, waitReady } from "./setup.js";
import { renderSvg } from "./svg.js";
import type { ClusterView } from "./targets.js";
import { Timeline } from "./timeline.js";
import { TrafficGenerator, type TrafficTarget } from "./traffic.js";

const SETTLE_POLL_MS = 3000;
const TASK_TARGETS_REFRESH_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RunOptions {
  scenario: Scenario;
  seed: number;
  progress?: (line: string) => void;
}

/** Checks a scenario against the lab (targets, names) without touching anything. */
export function validateOnLab(access: LabAccess, scenario: Scenario, seed: number): PlannedStep[] {
  return planScenario(scenario, seed, staticView(access.layout().nodes));
}

export function chaosDir(lab: string): string {
  return join(labDir(lab), "chaos");
}

export async function runScenario(access: LabAccess, o: RunOptions): Promise<ChaosReport> {
  const { scenario, seed } = o;
  const say = o.progress ?? (() => {});
  validateOnLab(access, scenario, seed);
  const dir = chaosDir(access.name);
  mkdirSync(dir, { recursive: true });
  const env = { SWARMNET_LAB: access.name };

  say(
    `${scenario.name}: preparing the workload (${SETUP.service}, ${SETUP.replicas} replicas on :${SETUP.publishedPort})`,
  );
  const probe = await ensureSetup(access);
  const initialNodes = access.layout().nodes.map((n) => n.name);
  await waitReady(access, initialNodes);
  const beforeKv = await access.etcd();
  const before = durableIntent(beforeKv);
  const encryptedVnis = [...intentFrom(beforeKv).networks.values()]
    .filter((n) => n.encrypted)
    .map((n) => n.vni);
  const underlay = access.layout().underlayNetns;
  if (encryptedVnis.length > 0) {
    const [swarm] = await access.control<{ DataPathPort?: number }[]>(["swarm", "inspect"]);
    await watchUnderlay(access.ex, underlay, encryptedVnis, swarm?.DataPathPort ?? 4789);
  }

  const timeline = new Timeline();
  const observer = new Observer(access);
  const injector = new FaultInjector(access, timeline, observer);
  const mesh = new TrafficGenerator(access.ex, "mesh", access.layout().client.netns, dir, env);
  const overlay = new TrafficGenerator(access.ex, "overlay", probe.netns, dir, env);
  const meshTargets = (): TrafficTarget[] =>
    access
      .layout()
      .nodes.filter((n) => !injector.gone.has(n.name))
      .map((n) => ({ id: n.name, host: n.address, port: SETUP.publishedPort }));
  let vip = "";
  const overlayTargets = (intent: Intent | undefined): TrafficTarget[] => {
    const net =
      intent === undefined ? undefined : [...intent.networks.values()].find((n) => n.name === SETUP.network);
    const tasks = (intent?.tasks ?? []).filter((t) => t.serviceName === SETUP.service && isRunning(t));
    return [
      { id: "vip", host: vip, port: SETUP.targetPort },
      ...tasks.flatMap((t) => {
        const ip = t.networks.find((a) => a.networkId === net?.id)?.ip;
        return ip === undefined
          ? []
          : [{ id: `task:${SETUP.service}.${t.slot}`, host: ip, port: SETUP.targetPort }];
      }),
    ];
  };
  const beforeIntent = intentFrom(beforeKv);
  vip = await serviceVip(access);

  const start = Date.now();
  mesh.start(meshTargets());
  overlay.start(overlayTargets(beforeIntent));
  observer.start();
  let refreshing = true;
  const refresher = (async () => {
    while (refreshing) {
      await sleep(TASK_TARGETS_REFRESH_MS);
      if (!refreshing) break;
      try {
        overlay.setTargets(overlayTargets(intentFrom(await access.etcd())));
      } catch {
        // etcd unreachable (quorum lost): keep the last targets
      }
    }
  })();

  const errors: string[] = [];
  let settleMs = 0;
  let kernels: NodeKernel[] = [];
  let settledIntent: Intent | undefined;
  let afterKv: Map<string, string> | undefined;
  let liveness: Liveness = { live: new Set(), tolerated: new Set() };
  try {
    say(`${scenario.name}: traffic running; ${scenario.steps.length} steps (seed ${seed})`);
    const planner = new Planner(scenario, seed, staticView(access.layout().nodes));
    for (let i = 0; i < scenario.steps.length; i++) {
      const step = scenario.steps[i];
      if (step === undefined) break;
      if (step.step === "wait") {
        await sleep(step.durationMs);
        continue;
      }
      let at = Date.now();
      let planned: PlannedStep | undefined;
      try {
        planned = planner.resolve(i, await liveView(access, injector.gone, JSON.stringify(step)));
        at = Date.now();
        const detail = await act(planned, injector, planner);
        if (planned.step.step === "join" || planned.step.step === "leave" || planned.step.step === "rm") {
          mesh.setTargets(meshTargets());
        }
        timeline.events.push({
          index: i,
          text: planned.text,
          nodes: planned.nodes,
          at,
          endedAt: Date.now(),
          detail,
        });
        say(
          `${scenario.name}: ${((at - start) / 1000).toFixed(1)} s  ${planned.text} → ${detail.join("; ")} (${((Date.now() - at) / 1000).toFixed(1)} s)`,
        );
      } catch (err) {
        errors.push(`steps[${i}] ${planned?.text ?? step.step}: ${errorMessage(err)}`);
        timeline.events.push({
          index: i,
          text: planned?.text ?? step.step,
          nodes: planned?.nodes ?? [],
          at,
          endedAt: Date.now(),
          detail: [`failed: ${errorMessage(err)}`],
        });
        say(`${scenario.name}: step ${i} failed: ${errorMessage(err)}`);
        break;
      }
    }

    say(`${scenario.name}: settling (up to ${scenario.settleTimeoutMs / 1000} s)`);
    const settleStart = Date.now();
    for (;;) {
      try {
        afterKv = await access.etcd();
        settledIntent = intentFrom(afterKv);
        ({ kernels, liveness } = await readKernels(access, settledIntent, injector.gone, observer.paused));
        const ok =
          tasksHeld(settledIntent, kernels, liveness).held &&
          kernelHeld(kernels, settledIntent, liveness).held;
        if (ok) break;
      } catch {
        // etcd or a node not answering yet: keep polling within the bound
      }
      if (Date.now() - settleStart > scenario.settleTimeoutMs) break;
      await sleep(SETTLE_POLL_MS);
    }
    settleMs = Date.now() - settleStart;
  } finally {
    refreshing = false;
    await refresher;
  }
  const end = Date.now();
  const meshRecords = await mesh.stop();
  const overlayRecords = await overlay.stop();
  await observer.stop();
  const plaintext = encryptedVnis.length > 0 ? await plaintextPackets(access.ex, underlay) : 0;

  const records: SourcedRecord[] = [
    ...meshRecords.map((r) => ({ ...r, via: r.id, recovery: true })),
    ...overlayRecords.map((r) => ({ ...r, via: probe.node, recovery: r.id === "vip" })),
  ].sort((a, b) => a.t - b.t);
  const faults = faultReports(timeline.events, records, timeline, start, end, observer.deaths);
  const recoveries = faults.map((f) => f.recoveryMs);
  const intentAfter = settledIntent ?? intentFrom(new Map());
  const invariants = [
    afterKv === undefined
      ? { name: "no intent lost", held: false, evidence: ["etcd could not be read after the run"] }
      : intentHeld(before, durableIntent(afterKv)),
    tasksHeld(intentAfter, kernels, liveness),
    deathsHeld(observer.deaths, timeline, start),
    kernelHeld(kernels, intentAfter, liveness),
    plaintextHeld(plaintext, encryptedVnis),
    crashesHeld(observer.crashes, start),
    recoveryHeld(faults, scenario.recoveryBoundMs),
    stepsHeld(errors),
  ];
  const base = join(dir, `${scenario.name}-seed${seed}`);
  const report: ChaosReport = {
    scenario: scenario.name,
    description: scenario.description,
    seed,
    lab: access.name,
    startedAt: new Date(start).toISOString(),
    durationMs: end - start,
    settleMs,
    requests: {
      total: records.length,
      failed: records.filter((r) => !r.ok).length,
      failedHealthy: faults.reduce((a, f) => a + f.failedHealthy, 0),
    },
    perTarget: perTarget(records),
    faults,
    recovery: {
      p50Ms: percentile(recoveries, 50),
      maxMs: Math.max(0, ...recoveries),
      boundMs: scenario.recoveryBoundMs,
    },
    invariants,
    held: invariants.every((i) => i.held),
    files: { report: `${base}.json`, svg: `${base}.svg` },
  };
  writeFileSync(
    report.files.report,
    JSON.stringify({ ...report, disturbed: timeline.intervals }, null, 2) + "\n",
  );
  const rows = [
    ...[...new Set(meshRecords.map((r) => r.id))]
      .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
      .map((id) => ({ id, via: id })),
    { id: "vip", via: probe.node },
  ];
  writeFileSync(report.files.svg, renderSvg(report, records, rows, timeline.intervals, start, end));

  // Leave a whole lab behind, whatever the scenario left.
  if (!injector.healed)
    await injector
      .heal()
      .catch((err: unknown) => say(`${scenario.name}: heal after the run failed: ${errorMessage(err)}`));
  if (encryptedVnis.length > 0) await unwatchUnderlay(access.ex, underlay).catch(() => {});
  return report;
}

async function act(p: PlannedStep, injector: FaultInjector, planner: Planner): Promise<string[]> {
  const s = p.step;
  switch (s.step) {
    case "kill":
    case "stop":
    case "cont":
    case "restart":
      return injector.process(s.step, p.nodes, s.process);
    case "partition":
      return injector.partition(p.groups ?? [], s.oneway);
    case "loss":
      return injector.impair(p.nodes, { lossPercent: s.percent });
    case "delay":
      return injector.impair(p.nodes, { delayMs: s.delayMs, jitterMs: s.jitterMs });
    case "link-down":
    case "link-up":
      return injector.link(s.step === "link-up", p.nodes);
    case "join":
      return injector.join(p.nodes);
    case "leave":
    case "rm":
      return injector.leave(s.step, p.nodes);
    case "heal":
      return injector.heal();
    case "fdb-delete": {
      const out: string[] = [];
      for (const n of p.nodes) out.push(...(await injector.fdbDelete(n, planner.draw())));
      return out;
    }
    case "wait":
      return [];
  }
}

/**
 * The cluster as a step must see it: nodes and roles from the lab (minus those gone);
 * the leader and where tasks run only when the step's targets ask for them (reading them
 * needs the managers or etcd, which a scenario may have taken away).
 */
async function liveView(
  access: LabAccess,
  gone: ReadonlySet<string>,
  stepText: string,
): Promise<ClusterView> {
  const view: ClusterView = staticView(access.layout().nodes.filter((n) => !gone.has(n.name)));
  delete view.leader;
  if (stepText.includes("leader")) {
    const [swarm] = await access.control<{ Leader?: string }[]>(["swarm", "inspect"]);
    if (swarm?.Leader) view.leader = swarm.Leader;
  }
  if (stepText.includes("with-task")) {
    const intent = intentFrom(await access.etcd());
    const tasks: Record<string, string[]> = {};
    for (const t of intent.tasks.filter(isRunning)) {
      const node = intent.nodes.get(t.nodeId)?.name;
      if (node !== undefined) (tasks[t.serviceName] ??= []).push(node);
    }
    view.tasks = tasks;
  }
  return view;
}

/**
 * Reads the kernels of every node still in the lab's cluster (paused agents included:
 * their kernel is what a paused agent left). Endpoints of nodes whose agent runs must be
 * held by the others; a paused agent's may or may not be (see `Liveness`).
 */
async function readKernels(
  access: LabAccess,
  intent: Intent,
  gone: ReadonlySet<string>,
  paused: ReadonlySet<string>,
): Promise<{ kernels: NodeKernel[]; liveness: Liveness }> {
  const all = await access.ex.netnsList();
  const nodes = access
    .layout()
    .nodes.filter((n) => !gone.has(n.name) && access.running(n.name, "agent"))
    .filter((n) => [...intent.nodes.values()].some((x) => x.name === n.name));
  const inLab = [...intent.nodes.values()].filter((x) => nodes.some((n) => n.name === x.name));
  const liveness: Liveness = {
    live: new Set(inLab.filter((x) => !paused.has(x.name)).map((x) => x.id)),
    tolerated: new Set(inLab.filter((x) => paused.has(x.name)).map((x) => x.id)),
  };
  const kernels = await Promise.all(nodes.map((n) => readNodeKernel(access.ex, n.name, n.netns, all)));
  return { kernels, liveness };
}

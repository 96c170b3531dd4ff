/**
 * `swarmnet bench containers` (issue 16): what hundreds of containers cost a node, as a
 * new user meets it — `swarmnet run -d --network att -- sleep 1000` in loops inside the
 * nodes — in one lab of `nodes` nodes (5) with the containers on the first `busy` (3):
 * one lab serves both of the settings (200 over 3 nodes for speed and CPU, agents
 * on 5 nodes for memory) and is built once, not twice, on a small machine. n4 and n5
 * hold no container: they show what an agent pays for a cluster's containers elsewhere.
 *
 *   run_ms_empty       one `run` on n1 with no container, p50/p99 over `runs` (each
 *                      removed before the next), timed inside the node, CLI start included
 *   create             `containers` runs in `busy` parallel loops (one per node):
 *                      `seconds` until all returned, `containers_per_s`, `failures`;
 *                      `cpu_seconds`: where the two cores went meanwhile — `machine`
 *                      (/proc/stat, everything), the lab's `agents`, the tools and
 *                      helpers they ran (`agent_tools`), `managers`, `etcd`, and `rest`
 *                      (the rest of the machine: the `swarmnet run` CLI processes and
 *                      shells, the containers' own starts, and anything else running)
 *   run_ms_loaded      the same as run_ms_empty on n1 holding its share of `containers`
 *                      (`containers_on_node`); `ratio_p99` = loaded p99 / empty p99
 *   idle_seconds       length of each idle window (agents left alone, nothing scraped
 *                      inside it: /proc is read from outside)
 *   agents[]           per node: `containers` it holds; `cpu_percent_empty` and
 *                      `cpu_percent_loaded` (the agent process, user + system, % of one
 *                      core, over an idle window before any container and after all of
 *                      them); `children_cpu_percent_loaded` (the tools it ran in that
 *                      window: its reaped children, and its long-lived helpers — which
 *                      run its kernel commands — with theirs); `rss_mb_empty` /
 *                      `rss_mb_loaded` (at the end of each window; `helpers_rss_mb_loaded`
 *                      its helpers'); `spawns_idle_loaded` (processes started in the
 *                      loaded window, by tool, from `swarmnet_executor_spawns_total`)
 *   load_avg           the machine's 1-minute load average at start and at end (2 cores
 *                      shared with other work: read the numbers with it)
 *
 * Always takes the lab down, also when a step fails.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import {
  cli,
  cpuPercent,
  labSwarmnet,
  pct,
  processUsage,
  TICKS_PER_S,
  type ProcessUsage,
} from "./lab-cli.js";
import { readState } from "../deploy/lab/state.js";

export interface ContainersBenchOptions {
  nodes: number;
  busy: number;
  containers: number;
  runs: number;
  idleSeconds: number;
}

export const CONTAINERS_BENCH_DEFAULTS: ContainersBenchOptions = {
  nodes: 5,
  busy: 3,
  containers: 200,
  runs: 20,
  idleSeconds: 30,
};

interface Percentiles {
  p50: number;
  p99: number;
  runs: number;
}

export interface AgentCost {
  node: string;
  containers: number;
  cpu_percent_empty: number;
  cpu_percent_loaded: number;
  children_cpu_percent_loaded: number;
  rss_mb_empty: number;
  rss_mb_loaded: number;
  helpers_rss_mb_loaded: number;
  spawns_idle_loaded: Record<string, number>;
}

export interface ContainersBenchResult {
  nodes: number;
  busy_nodes: number;
  containers: number;
  run_ms_empty: Percentiles;
  create: {
    seconds: number;
    containers_per_s: number;
    failures: number;
    cpu_seconds: Record<"machine" | "agents" | "agent_tools" | "managers" | "etcd" | "rest", number>;
  };
  run_ms_loaded: Percentiles & { containers_on_node: number; ratio_p99: number };
  idle_seconds: number;
  agents: AgentCost[];
  load_avg: { start: number; end: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU ticks the whole machine spent busy: /proc/stat's `cpu` line without idle and iowait. */
function machineTicks(): number {
  const line = /^cpu\s+(.*)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? "";
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).map(Number);
  return [user, nice, system, irq, softirq, steal].reduce((a: number, b) => a + (b ?? 0), 0);
}

/** `swarmnet_executor_spawns_total` by tool, from Prometheus text. */
function spawns(metrics: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of metrics.matchAll(/^swarmnet_executor_spawns_total\{tool="([^"]+)"\} (\d+)/gm))
    out.set(m[1] ?? "", Number(m[2]));
  return out;
}

/**
 * A shell loop inside a node: `swarmnet run -d` for each name, each run timed (ms) and
 * printed; `rm` after each when `remove` (not timed). Failed runs print `FAIL`.
 */
function runLoop(names: readonly string[], remove: boolean): string {
  const rm = remove ? ` && swarmnet rm -f "$n" >/dev/null` : "";
  return (
    `for n in ${names.join(" ")}; do s=$(date +%s%N); ` +
    `if swarmnet run -d --name "$n" --network att -- sleep 1000 >/dev/null; then ` +
    `e=$(date +%s%N); echo $(( (e - s) / 1000000 ))${rm}; else echo FAIL; fi; done`
  );
}

export async function runContainersBench(o: ContainersBenchOptions): Promise<ContainersBenchResult> {
  const lab = `k${randomBytes(3).toString("hex")}`;
  const sx = labSwarmnet(lab);
  const inNode = (node: string, script: string) =>
    cli(["lab", "exec", "--name", lab, node, "--", "sh", "-c", script]);
  const nodes = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const busy = nodes.slice(0, o.busy);
  const loadStart = loadavg()[0] ?? 0;

  const agentPid = (node: string): number => {
    const p = readState(lab)?.processes.find((x) => x.node === node && x.kind === "agent");
    if (p === undefined) throw new Error(`no agent on ${node}`);
    return p.pid;
  };
  /** Every agent's usage over an idle window: [before, after] per node. */
  const idleWindow = async (): Promise<Map<string, [ProcessUsage, ProcessUsage]>> => {
    const before = new Map(nodes.map((n) => [n, processUsage(agentPid(n))]));
    await sleep(o.idleSeconds * 1000);
    return new Map(
      nodes.map((n) => [n, [before.get(n) ?? processUsage(agentPid(n)), processUsage(agentPid(n))]]),
    );
  };
  const timings = (out: string) => {
    const lines = out.split("\n").filter((l) => l.trim() !== "");
    return {
      ms: lines.filter((l) => l !== "FAIL").map(Number),
      failures: lines.filter((l) => l === "FAIL").length,
    };
  };

  /** `runs` timed runs on n1, each removed before the next. */
  const timedOnN1 = async (prefix: string) =>
    timings(
      await inNode(
        "n1",
        runLoop(
          Array.from({ length: o.runs }, (_, i) => `${prefix}${i}`),
          true,
        ),
      ),
    );

  try {
    await cli(["lab", "up", "--name", lab, "--nodes", String(o.nodes)]);
    await sx("n1", "network", "create", "-d", "overlay", "--attachable", "att");
    await sleep(5_000);
    const empty = await idleWindow();

    const emptyRuns = await timedOnN1("empty");

    /** Ticks of the machine and of the lab's processes by kind (each process read once). */
    const cpuNow = () => {
      const t = { machine: machineTicks(), agents: 0, agent_tools: 0, managers: 0, etcd: 0 };
      for (const p of readState(lab)?.processes ?? []) {
        if (p.kind !== "agent" && p.kind !== "manager" && p.kind !== "etcd") continue;
        const u = processUsage(p.pid);
        if (p.kind === "agent") {
          t.agents += u.ticks;
          t.agent_tools += u.childTicks;
        } else if (p.kind === "manager") t.managers += u.ticks + u.childTicks;
        else t.etcd += u.ticks;
      }
      return t;
    };
    const cpuBefore = cpuNow();
    const started = Date.now();
    const loops = await Promise.all(
      busy.map((node, k) => {
        const names: string[] = [];
        for (let i = k; i < o.containers; i += busy.length) names.push(`c${i}`);
        return inNode(node, runLoop(names, false));
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const cpuAfter = cpuNow();
    const created = loops.map(timings);
    const cpuSeconds = { machine: 0, agents: 0, agent_tools: 0, managers: 0, etcd: 0, rest: 0 };
    for (const k of Object.keys(cpuAfter) as (keyof typeof cpuAfter)[])
      cpuSeconds[k] = (cpuAfter[k] - cpuBefore[k]) / TICKS_PER_S;
    cpuSeconds.rest =
      cpuSeconds.machine - cpuSeconds.agents - cpuSeconds.agent_tools - cpuSeconds.managers - cpuSeconds.etcd;
    for (const k of Object.keys(cpuSeconds) as (keyof typeof cpuSeconds)[])
      cpuSeconds[k] = Math.round(cpuSeconds[k] * 10) / 10;

    const loadedRuns = await timedOnN1("loaded");
    const onN1 = (JSON.parse(await sx("n1", "ps", "--format", "json")) as unknown[]).length;

    const before = new Map(
      await Promise.all(nodes.map(async (n) => [n, spawns(await metricsOf(n))] as const)),
    );
    await sleep(5_000);
    const loaded = await idleWindow();
    const after = new Map(
      await Promise.all(nodes.map(async (n) => [n, spawns(await metricsOf(n))] as const)),
    );

    const agents = nodes.map((node, i): AgentCost => {
      const [e0, e1] = empty.get(node) ?? [];
      const [l0, l1] = loaded.get(node) ?? [];
      if (e0 === undefined || e1 === undefined || l0 === undefined || l1 === undefined)
        throw new Error(`no usage of ${node}`);
      const was = before.get(node) ?? new Map<string, number>();
      const idleSpawns: Record<string, number> = {};
      for (const [tool, n] of after.get(node) ?? []) {
        const d = n - (was.get(tool) ?? 0);
        if (d > 0) idleSpawns[tool] = d;
      }
      return {
        node,
        containers: i < busy.length ? (created[i]?.ms.length ?? 0) : 0,
        cpu_percent_empty: cpuPercent(e1.ticks - e0.ticks, e1.at - e0.at),
        cpu_percent_loaded: cpuPercent(l1.ticks - l0.ticks, l1.at - l0.at),
        children_cpu_percent_loaded: cpuPercent(l1.childTicks - l0.childTicks, l1.at - l0.at),
        rss_mb_empty: e1.rssMb,
        rss_mb_loaded: l1.rssMb,
        helpers_rss_mb_loaded: l1.helpersRssMb,
        spawns_idle_loaded: idleSpawns,
      };
    });
    const emptyP99 = pct(emptyRuns.ms, 99);
    const loadedP99 = pct(loadedRuns.ms, 99);
    return {
      nodes: o.nodes,
      busy_nodes: o.busy,
      containers: o.containers,
      run_ms_empty: { p50: pct(emptyRuns.ms, 50), p99: emptyP99, runs: emptyRuns.ms.length },
      create: {
        seconds: Math.round(seconds * 10) / 10,
        containers_per_s: Math.round((o.containers / seconds) * 100) / 100,
        failures: created.reduce((n, c) => n + c.failures, 0),
        cpu_seconds: cpuSeconds,
      },
      run_ms_loaded: {
        p50: pct(loadedRuns.ms, 50),
        p99: loadedP99,
        runs: loadedRuns.ms.length,
        containers_on_node: onN1,
        ratio_p99: Math.round((loadedP99 / emptyP99) * 100) / 100,
      },
      idle_seconds: o.idleSeconds,
      agents,
      load_avg: { start: loadStart, end: loadavg()[0] ?? 0 },
    };
  } finally {
    await cli(["lab", "down", "--name", lab]).catch(() => undefined);
  }

  function metricsOf(node: string): Promise<string> {
    return cli(["lab", "metrics", "--name", lab, node]);
  }
}

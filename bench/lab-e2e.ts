/**
 * Whole-system latencies in a lab, through the CLI as a user sees them:
 *   run_to_reachable_ms   `swarmnet run` on n1 until its first ping reply from a container
 *                         on n3 (issue 5), p50/p99 over --runs. The clock starts inside n1
 *                         as `swarmnet run` is exec'd there, where a user on the node starts
 *                         it; until 2026-12-02 17:00 it started before the bench's own `lab
 *                         exec` (a second Node process, on the host, that only enters n1:
 *                         ~200–350 ms of harness), which `run_to_reachable_lab_exec_ms` still
 *                         measures
 *   publish_to_serving_ms `service publish` returning until every node answers on the
 *                         new port (issue 6), p50/p99 over --publishes, on --nodes nodes
 *   scale_to_serving_ms   `service scale -d web=N+1` returning until every node's published
 *                         port has answered from the new task (`Task: web.N+1.<task id>` in
 *                         whoami's reply), p50/p99 over --scales; the new task's own
 *                         start (a Node process) is part of it. Stages: `to_agent` (the
 *                         bench starts `scale` → the task's node has it: lab exec, the CLI,
 *                         the managers, the dispatcher), `create` (the task's container up
 *                         to its process start; `create_attach`, `_sandbox`, `_reconcile`,
 *                         `_process` as a run's stages), `process_ready` (→ it listens on its
 *                         port), `mesh_everywhere` (→ the last node's mesh pass that
 *                         applied it), `mesh_to_serving` (→ the last node's first answer)
 *   mesh_rps, direct_rps  sequential HTTP requests per second, from a node running a task,
 *                         through the node's published port vs straight to that task's
 *                         ingress address
 *
 *   node dist/bench/lab-e2e.js [--nodes 5] [--runs 20] [--publishes 10] [--scales 5]
 *   swarmnet bench lab-e2e [--nodes 5] [--runs 20] [--publishes 10] [--scales 5]
 *
 * Where the time goes (issue 16): each measure also has `stages`, p50/p99 in ms per
 * stage, computed from marks the components record in their trace rings
 * (common/trace-ring.ts; read from every node's agent and manager at `/trace` on their
 * loopback metrics address) and paired by the id that follows the change. One line per
 * run with its stages goes to stderr. Stages of a run (n1 runs the probe, n3 holds the
 * target):
 *   lab_exec             bench starts `lab exec` → `swarmnet run` is exec'd in n1 (harness,
 *                        outside run_to_reachable_ms)
 *   cli_to_agent         `swarmnet run` exec'd → n1's agent has the request (the CLI's start)
 *   attach               the agent asks the managers for an address → it has it (the
 *                        gRPC round trip and the managers' etcd commit);
 *                        `attach_manager` is the part inside the manager's handler
 *   sandbox              → namespace and veth made (the record goes in next)
 *   local_reconcile      → n1's reconcilers applied the new container (run awaits them)
 *   process_start        → the probe's process started; `agent_to_cli` → `run` returned;
 *                        `started_to_reply` → the probe's first ping reply
 *   gossip_publish       container record made → n1 published the endpoint in NetworkDB
 *   gossip_delivery      n1's publish → n3's NetworkDB has the endpoint
 *   remote_queue         n3 has it → n3's overlay reconciler pass starts
 *   remote_apply         that pass's apply (observe, plan, `ip`/`bridge` — kernel apply)
 *   remote_to_reply      that pass ended → the probe's first ping reply (negative: n3
 *                        was ready before the probe; the path through n1 is the longer)
 * Stages of a publish (on every node: samples of all nodes together):
 *   cli_to_manager       bench starts `service publish` → a manager has the Update call
 *   manager_update       the manager's handler (validation, etcd transaction)
 *   manager_to_cli       the handler answered → `publish` returned
 *   commit_to_delivery   the etcd commit (its revision) → the change's arrival on an
 *                        agent's dispatcher stream
 *   mesh_queue           arrival → the node mesh reconciler's pass starts
 *   mesh_apply           that pass's apply (one nft transaction — kernel apply)
 *   mesh_to_serving      that pass ended → the client's first answer through the node
 * `reconcilers` (under run_to_reachable_ms) is the same per reconciler on n1 for the
 * run's container: `queue` (record made → pass starts) and `apply`, over the passes that
 * applied something. A stage whose marks are missing in a run (a ring overwritten, a
 * pass that found nothing to do) has no sample for that run.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { cli, flag, labSwarmnet, pct } from "./lab-cli.js";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { labDir } from "../deploy/lab/state.js";
import type { TraceMark } from "../common/trace-ring.js";

export interface LabE2eOptions {
  nodes: number;
  runs: number;
  publishes: number;
  scales: number;
}

export const LAB_E2E_DEFAULTS: LabE2eOptions = { nodes: 5, runs: 20, publishes: 10, scales: 5 };

export interface Percentiles {
  p50: number;
  p99: number;
}

export interface LabE2eResult {
  nodes: number;
  run_to_reachable_ms: Percentiles & {
    runs: number;
    stages: Record<string, Percentiles>;
    reconcilers: Record<string, { queue: Percentiles; apply: Percentiles }>;
  };
  run_to_reachable_lab_exec_ms: Percentiles;
  publish_to_serving_ms: Percentiles & { runs: number; stages: Record<string, Percentiles> };
  scale_to_serving_ms: Percentiles & { runs: number; stages: Record<string, Percentiles> };
  mesh_rps: number;
  direct_rps: number;
}

/** Loopback metrics addresses (agent, manager) where the trace rings are served. */
const AGENT_TRACE = "http://127.0.0.1:9323/trace";
const MANAGER_TRACE = "http://127.0.0.1:9324/trace";

/** Marks of one node's processes. */
interface NodeMarks {
  agent: TraceMark[];
  manager: TraceMark[];
}

/** Samples per stage name. */
class Stages {
  readonly samples = new Map<string, number[]>();

  add(stage: string, ms: number | undefined): void {
    if (ms === undefined || !Number.isFinite(ms)) return;
    const list = this.samples.get(stage) ?? [];
    list.push(ms);
    this.samples.set(stage, list);
  }

  summary(): Record<string, Percentiles> {
    return Object.fromEntries([...this.samples].map(([k, v]) => [k, percentiles(v)]));
  }
}

function percentiles(values: readonly number[]): Percentiles {
  return { p50: pct(values, 50), p99: pct(values, 99) };
}

const first = (marks: readonly TraceMark[], pick: (m: TraceMark) => boolean) => marks.find(pick);
const num = (m: TraceMark | undefined, field: string): number => {
  const v = m?.f?.[field];
  return typeof v === "number" ? v : NaN;
};
/** When a reconcile pass started (its mark is made at the end; `start` is wall time). */
const passStart = (m: TraceMark) => num(m, "start");
/** The first pass of `reconciler` that applied something and started at or after `t`. */
const appliedPassAfter = (marks: readonly TraceMark[], reconciler: string, t: number) =>
  first(
    marks,
    (m) =>
      m.stage === "reconcile" && m.key === reconciler && m.f?.["result"] === "applied" && passStart(m) >= t,
  );

/**
 * A Node script, run in the client namespace, that records when each URL first answers
 * (with `want` in the body, when given): every 20 ms it starts up to `burst` new requests
 * to each URL still waiting, keeping at most 4 × `burst` in flight per URL, and does not
 * wait for the ones in flight: a request stuck behind a dropped SYN (a DNAT to a backend
 * whose address is not yet reachable) delays nothing but itself. A new connection per
 * request (http.get without an agent): the mesh picks a task per connection, round robin,
 * so `burst` = the number of tasks reaches every one of them in a tick. Prints the
 * first-answer times (NaN: none within 60 s).
 */
function pollScript(urls: readonly string[], burst: number, want?: string): string {
  return (
    `const http=require("node:http");const urls=${JSON.stringify(urls)};const want=${JSON.stringify(want ?? "")};` +
    `const first={};const busy={};const end=Date.now()+60000;` +
    `const get=u=>{busy[u]=(busy[u]??0)+1;const q=http.get(u,{agent:false,timeout:1000},r=>{let t="";` +
    `r.on("data",d=>t+=d);r.on("end",()=>{if(r.statusCode===200&&t.includes(want))first[u]??=Date.now()})});` +
    `q.on("close",()=>busy[u]--);q.on("error",()=>{});q.on("timeout",()=>q.destroy())};` +
    `const tick=setInterval(()=>{const left=urls.filter(u=>!(u in first));` +
    `if(left.length===0||Date.now()>end){clearInterval(tick);` +
    `console.log(JSON.stringify(urls.map(u=>first[u]??NaN)));process.exit(0)}` +
    `for(const u of left)for(let i=0;i<${burst}&&(busy[u]??0)<${4 * burst};i++)get(u)},20)`
  );
}

/**
 * The stages of one scale-up from the marks: the new task (`web.<replicas>.<task id>`) on
 * whichever node got it, then every node's mesh (`firstAnswers`: each node's first answer
 * from the new task, in node order).
 */
function scaleRow(
  marks: Map<string, NodeMarks>,
  replicas: number,
  started: number,
  firstAnswers: readonly number[],
): Record<string, number> {
  const name = `web.${replicas}.`;
  let task: { agent: TraceMark[]; id: string; received: number } | undefined;
  for (const { agent } of marks.values()) {
    const m = first(
      agent,
      (x) => x.stage === "run.received" && x.t >= started && String(x.f?.["name"]).startsWith(name),
    );
    if (m !== undefined) task = { agent, id: m.key, received: m.t };
  }
  if (task === undefined) return {};
  const at = (stage: string) => first(task.agent, (m) => m.stage === stage && m.key === task.id)?.t ?? NaN;
  const begun = at("run.started");
  const ready = at("run.ready");
  // Each node's first mesh pass that applied something after the task was ready.
  const meshDone = [...marks.values()].map(({ agent }) => appliedPassAfter(agent, "mesh", ready)?.t ?? NaN);
  const lastMesh = Math.max(...meshDone);
  const attached = at("run.attached");
  const created = at("run.created");
  const synced = at("run.synced");
  return {
    to_agent: task.received - started,
    create: begun - task.received,
    create_attach: attached - task.received,
    create_sandbox: created - attached,
    create_reconcile: synced - created,
    create_process: begun - synced,
    process_ready: ready - begun,
    mesh_everywhere: lastMesh - ready,
    mesh_to_serving: Math.max(...firstAnswers) - lastMesh,
  };
}

export async function runLabE2e(o: LabE2eOptions): Promise<LabE2eResult> {
  const { nodes, runs, publishes, scales } = o;
  const lab = `e${randomBytes(3).toString("hex")}`;
  const sx = labSwarmnet(lab);
  const inNode = (node: string, ...argv: string[]) =>
    execa(process.execPath, [CLI_MAIN, "lab", "exec", "--name", lab, node, "--", ...argv], { reject: false });
  const nodeNames = Array.from({ length: nodes }, (_, k) => `n${k + 1}`);

  /** Requests per second for `seconds`, sequential, from node `node`'s namespace. */
  async function rps(node: string, url: string, seconds: number): Promise<number> {
    const script = `const end=Date.now()+${seconds * 1000};let n=0;(async()=>{while(Date.now()<end){const r=await fetch(${JSON.stringify(url)});await r.text();n++}console.log(n/${seconds})})()`;
    const r = await inNode(node, process.execPath, "-e", script);
    return Math.round(Number(String(r.stdout).trim()));
  }

  /** Every node's agent and manager (where there is one) marks since `since`. */
  async function readMarks(since: number): Promise<Map<string, NodeMarks>> {
    const script =
      `(async()=>{const out={};for(const [k,u] of Object.entries({agent:${JSON.stringify(AGENT_TRACE)},` +
      `manager:${JSON.stringify(MANAGER_TRACE)}})){try{const r=await fetch(u+"?since=${since}");` +
      `out[k]=(await r.json()).marks}catch{out[k]=[]}}process.stdout.write(JSON.stringify(out))})()`;
    const all = await Promise.all(
      nodeNames.map(async (n): Promise<[string, NodeMarks]> => {
        const r = await inNode(n, process.execPath, "-e", script);
        try {
          return [n, JSON.parse(String(r.stdout)) as NodeMarks];
        } catch {
          return [n, { agent: [], manager: [] }];
        }
      }),
    );
    return new Map(all);
  }
  const managerMarks = (marks: Map<string, NodeMarks>) =>
    [...marks.values()].flatMap((m) => m.manager).sort((a, b) => a.t - b.t);

  try {
    await cli(["lab", "up", "--name", lab, "--nodes", String(nodes)]);
    await sx("n1", "network", "create", "-d", "overlay", "--attachable", "benchnet");
    await sx("n3", "run", "-d", "--name", "target", "--network", "benchnet", "--", "sleep", "3600");
    const target = JSON.parse(await sx("n3", "inspect", "target")) as {
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }[];
    const targetIp = Object.values(target[0]?.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? "";

    // The probe container pings the target from its first instant and prints the wall time
    // of the first reply into its log: no CLI round trip is counted after `run` returns.
    const reach: number[] = [];
    const reachWithLabExec: number[] = [];
    const probes: { id: string; launched: number; started: number; returned: number; reply: number }[] = [];
    const reachSince = Date.now();
    for (let i = 0; i < runs; i++) {
      const launched = Date.now();
      const loop = `until ping -c1 -W1 -q ${targetIp} >/dev/null 2>&1; do :; done; date +%s%3N; sleep 600`;
      // The clock starts inside n1, as `swarmnet run` is exec'd there (see the header).
      const [stamp, id = ""] = (
        await cli([
          ...["lab", "exec", "--name", lab, "n1", "--", "sh", "-c", 'date +%s%3N; exec swarmnet "$@"', "sh"],
          ...["run", "-d", "--name", `probe${i}`, "--network", "benchnet", "--", "sh", "-c", loop],
        ])
      )
        .trim()
        .split("\n");
      const started = Number(stamp);
      const returned = Date.now();
      const log = join(labDir(lab), "n1", "logs", `${id}.log`);
      let reply = NaN;
      for (let t = 0; t < 600 && Number.isNaN(reply); t++) {
        reply = existsSync(log) ? Number(readFileSync(log, "utf8").trim().split("\n")[0]) || NaN : NaN;
        if (Number.isNaN(reply)) await new Promise((r) => setTimeout(r, 50));
      }
      reach.push(reply - started);
      reachWithLabExec.push(reply - launched);
      probes.push({ id, launched, started, returned, reply });
      await sx("n1", "rm", "-f", `probe${i}`);
    }
    const runMarks = await readMarks(reachSince - 1000);
    const runStages = new Stages();
    const reconcilers = new Map<string, Stages>();
    const a1 = runMarks.get("n1")?.agent ?? [];
    const a3 = runMarks.get("n3")?.agent ?? [];
    const mgr = managerMarks(runMarks);
    for (const [i, p] of probes.entries()) {
      const at = (stage: string) => first(a1, (m) => m.stage === stage && m.key === p.id)?.t ?? NaN;
      const received = at("run.received");
      const attached = at("run.attached");
      const created = at("run.created");
      const synced = at("run.synced");
      const procStarted = at("run.started");
      const attachCall = first(
        mgr,
        (m) => m.stage === "rpc" && m.key.endsWith("/Attach") && m.t >= received - 1 && m.t <= attached,
      );
      const publish = first(a1, (m) => m.stage === "gossip.publish" && m.key.startsWith(`${p.id}/`));
      const receipt =
        publish === undefined
          ? undefined
          : first(a3, (m) => m.stage === "gossip.receive" && m.key === publish.key && m.t >= publish.t);
      const remote = receipt === undefined ? undefined : appliedPassAfter(a3, "overlay", receipt.t);
      const row: Record<string, number> = {
        lab_exec: p.started - p.launched,
        cli_to_agent: received - p.started,
        attach: attached - received,
        attach_manager: num(attachCall, "ms"),
        sandbox: created - attached,
        local_reconcile: synced - created,
        process_start: procStarted - synced,
        agent_to_cli: p.returned - procStarted,
        gossip_publish: (publish?.t ?? NaN) - created,
        gossip_delivery: (receipt?.t ?? NaN) - (publish?.t ?? NaN),
        remote_queue: remote === undefined ? NaN : passStart(remote) - (receipt?.t ?? NaN),
        remote_apply: num(remote, "apply"),
        remote_to_reply: p.reply - (remote?.t ?? NaN),
        started_to_reply: p.reply - procStarted,
      };
      for (const [k, v] of Object.entries(row)) runStages.add(k, v);
      const names = new Set(a1.filter((m) => m.stage === "reconcile").map((m) => m.key));
      for (const name of names) {
        const pass = appliedPassAfter(a1, name, created);
        if (pass === undefined || pass.t > synced) continue;
        const s = reconcilers.get(name) ?? new Stages();
        s.add("queue", passStart(pass) - created);
        s.add("apply", num(pass, "apply"));
        reconcilers.set(name, s);
      }
      process.stderr.write(JSON.stringify({ run: i, total: p.reply - p.started, ...round(row) }) + "\n");
    }

    await sx(
      "n1",
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "benchnet",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    for (let t = 0; t < 120 && !/ 3\/3 /.test(await sx("n1", "service", "ls")); t++)
      await new Promise((r) => setTimeout(r, 500));
    const webId = (JSON.parse(await sx("n1", "service", "inspect", "web")) as { ID: string }[])[0]?.ID ?? "";
    // A poller in the client namespace, started before `publish`, records when each node
    // first answers on the new port (pollScript; until 2026-12-03 it sent one request at a
    // time per node with a 500 ms timeout, so a dropped SYN hid answers for up to 500 ms);
    // compared with the wall time `publish` returned.
    const serving: number[] = [];
    const pubs: { started: number; returned: number; first: Record<string, number> }[] = [];
    const publishSince = Date.now();
    for (let i = 0; i < publishes; i++) {
      const port = 9100 + i;
      const urls = nodeNames.map((n) => `http://100.64.1.${n.slice(1)}:${port}/`);
      const poll = pollScript(urls, 1);
      const poller = inNode("client", process.execPath, "-e", poll);
      await new Promise((r) => setTimeout(r, 1000));
      const started = Date.now();
      // -d: the time from the managers' answer, not from the end of the convergence wait.
      await sx("n1", "service", "publish", "-d", "web", `${port}:80`);
      const returned = Date.now();
      const times = JSON.parse(String((await poller).stdout).trim() || "[]") as (number | null)[];
      const firstAnswer = Object.fromEntries(nodeNames.map((n, k) => [n, times[k] ?? NaN]));
      serving.push(Math.max(...Object.values(firstAnswer)) - returned);
      pubs.push({ started, returned, first: firstAnswer });
    }
    const pubMarks = await readMarks(publishSince - 1000);
    const pubMgr = managerMarks(pubMarks);
    const pubStages = new Stages();
    for (const [i, p] of pubs.entries()) {
      const update = first(
        pubMgr,
        (m) =>
          m.stage === "rpc" && m.key.endsWith("Services/Update") && m.t >= p.started && m.t <= p.returned,
      );
      const row: Record<string, number> = {
        cli_to_manager: (update?.t ?? NaN) - p.started,
        manager_update: num(update, "ms"),
        manager_to_cli: p.returned - ((update?.t ?? NaN) + num(update, "ms")),
      };
      const perNode: Record<string, number>[] = [];
      for (const n of nodeNames) {
        const agent = pubMarks.get(n)?.agent ?? [];
        const delivered = first(
          agent,
          (m) =>
            m.stage === "intent" &&
            m.t >= (update?.t ?? p.started) &&
            String(m.f?.["changes"] ?? "").includes(`serviceUpsert:${webId}`),
        );
        const commit = first(pubMgr, (m) => m.stage === "commit" && m.key === delivered?.key);
        const pass = delivered === undefined ? undefined : appliedPassAfter(agent, "mesh", delivered.t);
        const node: Record<string, number> = {
          commit_to_delivery: (delivered?.t ?? NaN) - (commit?.t ?? NaN),
          mesh_queue: pass === undefined ? NaN : passStart(pass) - (delivered?.t ?? NaN),
          mesh_apply: num(pass, "apply"),
          mesh_to_serving: (p.first[n] ?? NaN) - (pass?.t ?? NaN),
        };
        for (const [k, v] of Object.entries(node)) pubStages.add(k, v);
        perNode.push(round(node));
      }
      for (const [k, v] of Object.entries(row)) pubStages.add(k, v);
      process.stderr.write(
        JSON.stringify({
          publish: i,
          total: Math.max(...Object.values(p.first)) - p.returned,
          ...round(row),
          nodes: perNode,
        }) + "\n",
      );
    }

    // Scale up one task at a time: a poller started before `scale` asks every node's port
    // until each has answered from the new task, and records when (pollScript: as many
    // requests a tick as there are tasks; until 2026-12-03 one request at a time walked
    // the round robin, up to ~350 ms of sampling delay at 9 replicas).
    const scaled: number[] = [];
    const scaleRuns: { replicas: number; started: number; returned: number; first: number[] }[] = [];
    const scaleSince = Date.now();
    for (let i = 0; i < scales; i++) {
      const replicas = 4 + i;
      const urls = nodeNames.map((n) => `http://100.64.1.${n.slice(1)}:9100/`);
      const poll = pollScript(urls, replicas, `Task: web.${replicas}.`);
      const poller = inNode("client", process.execPath, "-e", poll);
      await new Promise((r) => setTimeout(r, 1000));
      const started = Date.now();
      await sx("n1", "service", "scale", "-d", `web=${replicas}`);
      const returned = Date.now();
      const times = JSON.parse(String((await poller).stdout).trim() || "[]") as (number | null)[];
      const firstAnswers = nodeNames.map((_, k) => times[k] ?? NaN);
      scaled.push(Math.max(...firstAnswers) - returned);
      scaleRuns.push({ replicas, started, returned, first: firstAnswers });
    }
    const scaleMarks = await readMarks(scaleSince - 1000);
    const scaleStages = new Stages();
    for (const [i, sc] of scaleRuns.entries()) {
      const row = scaleRow(scaleMarks, sc.replicas, sc.started, sc.first);
      const total = Math.max(...sc.first) - sc.returned;
      for (const [k, v] of Object.entries(row)) scaleStages.add(k, v);
      process.stderr.write(JSON.stringify({ scale: i, replicas: sc.replicas, total, ...round(row) }) + "\n");
    }

    const ps = JSON.parse(await sx("n1", "service", "ps", "web", "--format", "json")) as { Node: string }[];
    const taskNode = ps[0]?.Node ?? "n1";
    const local = JSON.parse(await sx(taskNode, "ps", "--format", "json")) as {
      endpoints: { networkName: string; ip: string }[];
    }[];
    const taskIp = local.flatMap((c) => c.endpoints).find((e) => e.networkName === "ingress")?.ip ?? "";
    const addr = `100.64.1.${taskNode.slice(1)}`;
    const meshRps = await rps(taskNode, `http://${addr}:9100/`, 3);
    const directRps = await rps(taskNode, `http://${taskIp}:80/`, 3);
    return {
      nodes,
      run_to_reachable_ms: {
        ...percentiles(reach),
        runs,
        stages: runStages.summary(),
        reconcilers: Object.fromEntries(
          [...reconcilers].map(([name, s]) => {
            const sum = s.summary();
            return [name, { queue: sum["queue"] ?? nan(), apply: sum["apply"] ?? nan() }];
          }),
        ),
      },
      run_to_reachable_lab_exec_ms: percentiles(reachWithLabExec),
      publish_to_serving_ms: { ...percentiles(serving), runs: publishes, stages: pubStages.summary() },
      scale_to_serving_ms: { ...percentiles(scaled), runs: scales, stages: scaleStages.summary() },
      mesh_rps: meshRps,
      direct_rps: directRps,
    };
  } finally {
    await execa(process.execPath, [CLI_MAIN, "lab", "down", "--name", lab], { reject: false });
  }
}

const nan = (): Percentiles => ({ p50: NaN, p99: NaN });
const round = (row: Record<string, number>) =>
  Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v)]));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const result = await runLabE2e({
    nodes: flag("nodes", LAB_E2E_DEFAULTS.nodes),
    runs: flag("runs", LAB_E2E_DEFAULTS.runs),
    publishes: flag("publishes", LAB_E2E_DEFAULTS.publishes),
    scales: flag("scales", LAB_E2E_DEFAULTS.scales),
  });
  process.stdout.write(JSON.stringify(result) + "\n");
}

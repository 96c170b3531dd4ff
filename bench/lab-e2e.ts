/**
 * Whole-system latencies in a lab, through the CLI as a user sees them:
 *   run_to_reachable_ms   `swarmnet run` on n1 until its first ping reply from a container
 *                         on n3 (issue 5), p50/p99 over --runs
 *   publish_to_serving_ms `service publish` returning until every node answers on the
 *                         new port (issue 6), p50/p99 over --publishes, on --nodes nodes
 *   mesh_rps, direct_rps  sequential HTTP requests per second, from a node running a task,
 *                         through the node's published port vs straight to that task's
 *                         ingress address
 *
 *   node dist/bench/lab-e2e.js [--nodes 5] [--runs 20] [--publishes 10]
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { cli, flag, labSwarmnet, pct } from "./lab-cli.js";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { labDir } from "../deploy/lab/state.js";

const nodes = flag("nodes", 5);
const runs = flag("runs", 20);
const publishes = flag("publishes", 10);
const lab = `e${randomBytes(3).toString("hex")}`;

const sx = labSwarmnet(lab);
const inNode = (node: string, ...argv: string[]) =>
  execa(process.execPath, [CLI_MAIN, "lab", "exec", "--name", lab, node, "--", ...argv], { reject: false });

/** Requests per second for `seconds`, sequential, from node `node`'s namespace. */
async function rps(node: string, url: string, seconds: number): Promise<number> {
  const script = `const end=Date.now()+${seconds * 1000};let n=0;(async()=>{while(Date.now()<end){const r=await fetch(${JSON.stringify(url)});await r.text();n++}console.log(n/${seconds})})()`;
  const r = await inNode(node, process.execPath, "-e", script);
  return Math.round(Number(String(r.stdout).trim()));
}

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
  for (let i = 0; i < runs; i++) {
    const started = Date.now();
    const loop = `until ping -c1 -W1 -q ${targetIp} >/dev/null 2>&1; do :; done; date +%s%3N; sleep 600`;
    const id = (
      await sx("n1", "run", "-d", "--name", `probe${i}`, "--network", "benchnet", "--", "sh", "-c", loop)
    ).trim();
    const log = join(labDir(lab), "n1", "logs", `${id}.log`);
    let first = NaN;
    for (let t = 0; t < 600 && Number.isNaN(first); t++) {
      first = existsSync(log) ? Number(readFileSync(log, "utf8").trim().split("\n")[0]) || NaN : NaN;
      if (Number.isNaN(first)) await new Promise((r) => setTimeout(r, 50));
    }
    reach.push(first - started);
    await sx("n1", "rm", "-f", `probe${i}`);
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
  // A poller in the client namespace, started before `publish`, records when every node
  // first answers on the new port; compared with the wall time `publish` returned.
  const serving: number[] = [];
  for (let i = 0; i < publishes; i++) {
    const port = 9100 + i;
    const urls = Array.from({ length: nodes }, (_, k) => `http://100.64.1.${k + 1}:${port}/`);
    const poll =
      `const urls=${JSON.stringify(urls)};const first={};const end=Date.now()+60000;(async()=>{` +
      `while(Object.keys(first).length<urls.length&&Date.now()<end){await Promise.all(urls.filter(u=>!(u in first))` +
      `.map(async u=>{try{const r=await fetch(u,{signal:AbortSignal.timeout(500)});await r.text();` +
      `if(r.ok)first[u]=Date.now()}catch{}}));await new Promise(r=>setTimeout(r,10))}` +
      `console.log(Math.max(...Object.values(first)))})()`;
    const poller = inNode("client", process.execPath, "-e", poll);
    await new Promise((r) => setTimeout(r, 1000));
    // -d: the time from the managers' answer, not from the end of the convergence wait.
    await sx("n1", "service", "publish", "-d", "web", `${port}:80`);
    const returned = Date.now();
    serving.push(Number(String((await poller).stdout).trim()) - returned);
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
  process.stdout.write(
    JSON.stringify({
      nodes,
      run_to_reachable_ms: { p50: pct(reach, 50), p99: pct(reach, 99), runs },
      publish_to_serving_ms: { p50: pct(serving, 50), p99: pct(serving, 99), runs: publishes },
      mesh_rps: meshRps,
      direct_rps: directRps,
    }) + "\n",
  );
} finally {
  await execa(process.execPath, [CLI_MAIN, "lab", "down", "--name", lab], { reject: false });
}

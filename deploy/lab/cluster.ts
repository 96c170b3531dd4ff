/**
 * Cluster formation for the lab: what a person would type, run inside the nodes.
 *
 *   n1 (first manager):   swarmnet swarm init --advertise-addr 100.64.1.1
 *                         (over its manager's local socket: it makes the cluster CA and
 *                         n1's certificate)
 *   other managers:       swarmnet swarm join --token <manager token> 100.64.1.1:2377
 *   workers:              swarmnet swarm join --token <worker token>  100.64.1.1:2377
 *                         (each pins the CA by the token's digest, makes its own key and
 *                         gets its certificate; every later call is mutual TLS)
 *   then wait until `swarmnet node ls` shows every node Ready (its agent's dispatcher
 *   stream is open).
 *
 * It goes through the real CLI inside each node, its namespace or its VM (with the node's
 * config file, so credentials land in that node's agent state dir) rather than calling the
 * managers from here: the host has no route into the lab, and the lab proves the commands
 * work.
 * `swarm init` is retried while the manager is still starting, and joins while the first
 * manager's TLS listener is still opening (it opens once n1's certificate is written).
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { CommandResult } from "../../common/executor.js";
import { MANAGER_GRPC_PORT, type LabLayout, type LabNode } from "./layout.js";

export interface FormOptions {
  /** Absolute path of the CLI entry (dist/bundle/swarmnet.js). */
  cliMain: string;
  /** The environment a command inside `node` runs with ($SWARMNET_CONFIG, …). */
  env: (node: LabNode) => Record<string, string>;
  /** Runs a command inside `node` (its namespace or its VM). */
  run: (node: LabNode, argv: string[], env: Record<string, string>) => Promise<CommandResult>;
  say: (line: string) => void;
  /** Multiplies the timeouts below (VM nodes run Node ~20× slower). Default 1. */
  timeoutScale?: number;
}

/** How long the first manager may take to answer `swarm init`. */
const MANAGER_START_TIMEOUT_MS = 120_000;
/** How long every agent may take to open its stream after joining. */
const READY_TIMEOUT_MS = 60_000;
/** Joins run this many at a time (each is a short Node process). */
const JOIN_PARALLELISM = 8;
const POLL_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface InitAnswer {
  WorkerToken: string;
  ManagerToken: string;
}

export async function formCluster(layout: LabLayout, o: FormOptions): Promise<void> {
  const managers = layout.nodes.filter((n) => n.role === "manager");
  const first = managers[0];
  if (first === undefined) return;
  const cli = async (node: LabNode, args: string[]) => {
    const r = await o.run(node, [process.execPath, o.cliMain, ...args], {
      SWARMNET_LOG_LEVEL: "warn",
      ...o.env(node),
    });
    return {
      ok: r.exitCode === 0,
      out: r.stdout,
      err: (r.stderr.trim().split("\n")[0] ?? "").replace(/^swarmnet: /, ""),
    };
  };

  o.say(`initialising the swarm on ${first.name}`);
  const scale = o.timeoutScale ?? 1;
  const deadline = Date.now() + MANAGER_START_TIMEOUT_MS * scale;
  let init = await cli(first, ["swarm", "init", "--advertise-addr", first.address, "--format", "json"]);
  while (
    !init.ok &&
    /cannot reach|no manager reachable|etcd|quorum/i.test(init.err) &&
    Date.now() < deadline
  ) {
    await sleep(POLL_MS);
    init = await cli(first, ["swarm", "init", "--advertise-addr", first.address, "--format", "json"]);
  }
  if (!init.ok)
    throw new SwarmnetError(ErrorCode.Unavailable, `swarm init on ${first.name} failed: ${init.err}`);
  const tokens = JSON.parse(init.out) as InitAnswer;

  const target = `${first.address}:${MANAGER_GRPC_PORT}`;
  const rest = layout.nodes.filter((n) => n !== first);
  if (rest.length > 0) o.say(`joining ${rest.length} node(s) (${managers.length - 1} as managers)`);
  let joined = 0;
  for (let i = 0; i < rest.length; i += JOIN_PARALLELISM) {
    await Promise.all(
      rest.slice(i, i + JOIN_PARALLELISM).map(async (n) => {
        const token = n.role === "manager" ? tokens.ManagerToken : tokens.WorkerToken;
        const args = ["swarm", "join", "--token", token, "--advertise-addr", n.address, target];
        const joinBy = Date.now() + MANAGER_START_TIMEOUT_MS * scale;
        let r = await cli(n, args);
        while (!r.ok && /cannot reach/i.test(r.err) && Date.now() < joinBy) {
          await sleep(POLL_MS);
          r = await cli(n, args);
        }
        if (!r.ok) throw new SwarmnetError(ErrorCode.Unavailable, `swarm join on ${n.name} failed: ${r.err}`);
        o.say(`${n.name}: joined (${++joined}/${rest.length})`);
      }),
    );
  }

  o.say("waiting for every agent's dispatcher stream");
  const readyBy = Date.now() + READY_TIMEOUT_MS * scale;
  const said = new Set<string>();
  let missing: string[] = layout.nodes.map((n) => n.name);
  while (Date.now() < readyBy) {
    const ls = await cli(first, ["node", "ls", "--format", "json"]);
    if (ls.ok) {
      const rows = JSON.parse(ls.out) as { Hostname: string; Status: string }[];
      const ready = new Set(rows.filter((r) => r.Status === "Ready").map((r) => r.Hostname));
      for (const n of layout.nodes) {
        if (!ready.has(n.name) || said.has(n.name)) continue;
        said.add(n.name);
        o.say(`${n.name}: ready (${said.size}/${layout.nodes.length})`);
      }
      missing = layout.nodes.filter((n) => !ready.has(n.name)).map((n) => n.name);
      if (missing.length === 0) return;
    }
    await sleep(POLL_MS);
  }
  throw new SwarmnetError(ErrorCode.Timeout, `nodes not ready after joining: ${missing.join(", ")}`);
}

/** Joins `nodes` of a formed lab as workers (chaos `join`), then waits until they are Ready. */
export async function joinWorkers(
  layout: LabLayout,
  nodes: readonly LabNode[],
  o: FormOptions,
): Promise<void> {
  const first = layout.nodes.find((n) => n.role === "manager");
  if (first === undefined) return;
  const cli = async (node: LabNode, args: string[]) => {
    const r = await o.run(node, [process.execPath, o.cliMain, ...args], {
      SWARMNET_LOG_LEVEL: "warn",
      ...o.env(node),
    });
    if (r.exitCode !== 0) {
      const err = (r.stderr.trim().split("\n")[0] ?? "").replace(/^swarmnet: /, "");
      throw new SwarmnetError(
        ErrorCode.Unavailable,
        `swarmnet ${args[0]} ${args[1]} on ${node.name}: ${err}`,
      );
    }
    return r.stdout.trim();
  };
  const token = await cli(first, ["swarm", "join-token", "-q", "worker"]);
  const target = `${first.address}:${MANAGER_GRPC_PORT}`;
  await Promise.all(
    nodes.map((n) => cli(n, ["swarm", "join", "--token", token, "--advertise-addr", n.address, target])),
  );
  const readyBy = Date.now() + READY_TIMEOUT_MS * (o.timeoutScale ?? 1);
  for (;;) {
    const rows = JSON.parse(await cli(first, ["node", "ls", "--format", "json"])) as {
      Hostname: string;
      Status: string;
    }[];
    if (nodes.every((n) => rows.some((r) => r.Hostname === n.name && r.Status === "Ready"))) return;
    if (Date.now() > readyBy) {
      throw new SwarmnetError(
        ErrorCode.Timeout,
        `joined nodes not ready: ${nodes.map((n) => n.name).join(", ")}`,
      );
    }
    await sleep(POLL_MS);
  }
}

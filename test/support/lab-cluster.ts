/**
 * A formed netns lab seen from a user's seat, for the service acceptance tests: run the
 * `swarmnet` CLI on a node, read `service ps`, send HTTP or UDP probes from the `client`
 * namespace (or from inside a container) and read who answered, list a node's nftables.
 *
 * Probes run in one child process per batch (a small Node program passed with `-e`), so
 * 30 requests cost one process start, not 30. Every probe opens a new connection (or a
 * new UDP socket, hence a new source port), so each one is a new flow the mesh balances.
 * A probe that gets no answer is recorded as a failure with its reason, never thrown:
 * the tests count failures and decide.
 *
 * Waiting is by behaviour: `eventually` polls a check until it holds or a generous bound
 * (30 s by default) passes, so a slow machine only waits longer, it does not fail.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Executor } from "../../common/executor.js";
import { labDir, type LabProcessKind, type LabState } from "../../deploy/lab/state.js";
import { parseWhoami, type WhoamiAnswer } from "../../cli/whoami.js";
import { swarmnet, type CliResult } from "./cli.js";
import { isRoot, uniqueLabName } from "./netns.js";

/** A task as `service ps --format json` prints it (the fields the tests read). */
export interface TaskRow {
  ID: string;
  Name: string;
  ContainerName: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  /** When the task reached its current state (ISO 8601, the managers' clock). */
  StateAt: string;
  Networks: { NetworkID: string; Addr: string }[];
}

/** One probe's outcome: the parsed answer, or why there was none. */
export type Probe = { ok: true; answer: WhoamiAnswer } | { ok: false; error: string };

/** Per probe: generous for a loaded 2-core machine, short enough to count failures fast. */
const PROBE_TIMEOUT_MS = 2000;

export interface ProbeOptions {
  proto?: "tcp" | "udp";
  /** How long one probe waits for its answer. */
  timeoutMs?: number;
}
const DEFAULT_WAIT_MS = 30_000;
const POLL_MS = 300;

/**
 * The probe program: argv = proto host port count timeoutMs; prints a JSON array of
 * {text} or {error}, one per probe, in order. Sequential, so round robin is visible.
 */
const PROBE_PROGRAM = String.raw`
const [proto, host, port, count, timeoutMs] = process.argv.slice(1);
const http = require("node:http");
const dgram = require("node:dgram");
function tcp() {
  return new Promise((resolve) => {
    const req = http.get({ host, port: Number(port), path: "/", agent: false, timeout: Number(timeoutMs) }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ text }));
      res.on("error", (e) => resolve({ error: String(e.message) }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ error: String(e.code || e.message) }));
  });
}
function udp(i) {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    const done = (r) => { clearTimeout(t); s.close(); resolve(r); };
    const t = setTimeout(() => done({ error: "timeout" }), Number(timeoutMs));
    s.on("message", (m) => done({ text: String(m) }));
    s.on("error", (e) => done({ error: String(e.code || e.message) }));
    s.send("probe-" + i, Number(port), host);
  });
}
(async () => {
  const out = [];
  for (let i = 0; i < Number(count); i++) out.push(proto === "udp" ? await udp(i) : await tcp());
  process.stdout.write(JSON.stringify(out));
})();
`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns a value (not undefined) or `timeoutMs` passes; then
 * fails with `what` and the last value `describe` gives.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  o: { timeoutMs?: number; describe?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? DEFAULT_WAIT_MS);
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      assert.fail(`${what}: not reached${o.describe ? `; last: ${o.describe()}` : ""}`);
    await sleep(POLL_MS);
  }
}

/** The distinct task names among the answered probes, sorted. */
export function answeredTasks(probes: readonly Probe[]): string[] {
  return [...new Set(probes.flatMap((p) => (p.ok ? [p.answer.task] : [])))].sort();
}

export function failures(probes: readonly Probe[]): string[] {
  return probes.flatMap((p) => (p.ok ? [] : [p.error]));
}

/** Running tasks: desired and current state both running. */
export function running(tasks: readonly TaskRow[]): TaskRow[] {
  return tasks.filter((t) => t.DesiredState === "running" && t.CurrentState === "running");
}

export function containerNames(tasks: readonly TaskRow[]): string[] {
  return tasks.map((t) => t.ContainerName).sort();
}

export class LabCluster {
  readonly ex = new Executor();
  private started = false;

  constructor(
    readonly nodes: number,
    readonly name: string = uniqueLabName(),
    /** Manager nodes (n1…nM, each with an etcd member). */
    readonly managers = 1,
  ) {}

  /** Node names n1…nN. */
  get nodeNames(): string[] {
    return Array.from({ length: this.nodes }, (_, i) => `n${i + 1}`);
  }

  /** A node's underlay address, as the client reaches it. */
  addr(node: string): string {
    return `100.64.1.${Number(node.slice(1))}`;
  }

  netns(node: string): string {
    return `sn-${this.name}-${node}`;
  }

  async up(): Promise<void> {
    this.started = true;
    const r = await swarmnet([
      "lab",
      "up",
      "--name",
      this.name,
      "--nodes",
      String(this.nodes),
      "--managers",
      String(this.managers),
    ]);
    assert.equal(r.exitCode, 0, `lab up: ${r.stderr}`);
  }

  /** Removes the lab; safe to call when `up` never ran or failed half-way. */
  async down(): Promise<void> {
    if (!this.started) return;
    const r = await swarmnet(["lab", "down", "--name", this.name]);
    assert.equal(r.exitCode, 0, `lab down: ${r.stderr}`);
  }

  /** `swarmnet lab exec --name L NODE -- ARGV…` */
  exec(node: string, argv: readonly string[]): Promise<CliResult> {
    return swarmnet(["lab", "exec", "--name", this.name, node, "--", ...argv]);
  }

  /** The `swarmnet` CLI inside a node (n1, the manager, by default). */
  cli(args: readonly string[], node = "n1"): Promise<CliResult> {
    return this.exec(node, ["swarmnet", ...args]);
  }

  /** Like `cli`, but the command must succeed; returns its stdout. */
  async ok(args: readonly string[], node = "n1"): Promise<string> {
    const r = await this.cli(args, node);
    assert.equal(r.exitCode, 0, `swarmnet ${args.join(" ")} (on ${node}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async tasks(service: string): Promise<TaskRow[]> {
    return JSON.parse(await this.ok(["service", "ps", service, "--format", "json"])) as TaskRow[];
  }

  /** Waits until exactly `count` tasks run and no other task of the service is still running. */
  async waitRunning(service: string, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<TaskRow[]> {
    let last: TaskRow[] = [];
    return eventually(
      `${count} running tasks of ${service}`,
      async () => {
        last = await this.tasks(service);
        const up = running(last);
        const stray = last.filter((t) => t.CurrentState === "running" && t.DesiredState !== "running");
        return up.length === count && stray.length === 0 ? up : undefined;
      },
      {
        timeoutMs,
        describe: () => JSON.stringify(last.map((t) => [t.Name, t.Node, t.DesiredState, t.CurrentState])),
      },
    );
  }

  /** The inspect view of a service (the first element of `service inspect`). */
  async inspect(service: string): Promise<{
    ID: string;
    Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] };
  }> {
    const [s] = JSON.parse(await this.ok(["service", "inspect", service])) as {
      ID: string;
      Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] };
    }[];
    assert.ok(s, `service inspect ${service} printed nothing`);
    return s;
  }

  /** `count` probes from the client namespace to host:port. */
  fromClient(host: string, port: number, count: number, o: ProbeOptions = {}): Promise<Probe[]> {
    return this.probe(["lab", "exec", "--name", this.name, "client", "--"], host, port, count, o);
  }

  /** `count` probes from inside container `container` running on `node`. */
  fromContainer(
    node: string,
    container: string,
    host: string,
    port: number,
    count: number,
    o: ProbeOptions = {},
  ): Promise<Probe[]> {
    return this.probe(
      ["lab", "exec", "--name", this.name, node, "--", "swarmnet", "exec", container, "--"],
      host,
      port,
      count,
      o,
    );
  }

  private async probe(
    prefix: readonly string[],
    host: string,
    port: number,
    count: number,
    o: ProbeOptions,
  ): Promise<Probe[]> {
    const r = await swarmnet([
      ...prefix,
      process.execPath,
      "-e",
      PROBE_PROGRAM,
      o.proto ?? "tcp",
      host,
      String(port),
      String(count),
      String(o.timeoutMs ?? PROBE_TIMEOUT_MS),
    ]);
    assert.equal(r.exitCode, 0, `probe program: ${r.stderr}`);
    const raw = JSON.parse(r.stdout) as ({ text: string } | { error: string })[];
    return raw.map((p): Probe => {
      if ("error" in p) return { ok: false, error: p.error };
      try {
        return { ok: true, answer: parseWhoami(p.text) };
      } catch {
        return { ok: false, error: `not a whoami answer: ${JSON.stringify(p.text.slice(0, 80))}` };
      }
    });
  }

  /** `nft list ruleset` inside a node's namespace. */
  /**
   * The node's `nft list ruleset`, its tables in name order: nft lists tables in the order
   * they were made, and a resync that replaces a table whole (the mesh's) moves it to the
   * end without changing anything in it.
   */
  async ruleset(node: string): Promise<string> {
    const text = await this.ex.nft(["list", "ruleset"], { netns: this.netns(node) });
    return text
      .split(/^(?=table )/m)
      .sort()
      .join("");
  }

  /** The pid the lab recorded for a node's agent. */
  agentPid(node: string): number {
    return this.pid(node, "agent");
  }

  /** The pid the lab recorded for a node's process of `kind`. */
  pid(node: string, kind: LabProcessKind): number {
    const state = JSON.parse(readFileSync(join(labDir(this.name), "state.json"), "utf8")) as LabState;
    const p = state.processes.find((x) => x.node === node && x.kind === kind);
    assert.ok(p, `no ${kind} recorded for ${node}`);
    return p.pid;
  }

  /** Takes a node's underlay link down (its veth end in the lab's underlay namespace). */
  async cutUnderlay(node: string): Promise<void> {
    await this.ex.ip(["link", "set", node, "down"], { netns: `sn-${this.name}-u` });
  }
}

/**
 * A suite's own lab: up before its tests (the suite is skipped when not root), down after
 * them, whatever happened. Call it in the `describe` body; a suite's further setup goes in
 * its own `before`, which runs after this one.
 */
export function labForSuite(lab: LabCluster): LabCluster {
  before(async function () {
    if (!isRoot) this.skip();
    await lab.up();
  });
  after(async () => {
    if (isRoot) await lab.down();
  });
  return lab;
}

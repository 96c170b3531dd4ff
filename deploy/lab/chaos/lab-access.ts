/**
 * How the chaos runner reads and drives a running lab, in one place:
 *
 * - the `swarmnet` CLI inside a node, its namespace or its VM (the host has no route
 *   into the lab, and going through the CLI is what a person would do), trying the next
 *   live manager node when one cannot answer (the scenario may have killed it);
 * - the node's kernel (`kernel`: an executor in its namespace, or in its VM's guest);
 * - each agent's control socket (a unix socket: reachable from the host) with a short
 *   deadline, since a paused agent never answers;
 * - etcd's content, through `etcdctl` inside a manager node (the intent invariant compares
 *   it before and after, independently of the managers).
 */
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import type { Executor, InNetns } from "../../../common/executor.js";
import { isAlive } from "../../../common/process.js";
import { AgentClient } from "../../../agent/control/client.js";
import { CLI_MAIN, type Lab } from "../lab.js";
import { labLayout, type LabLayout, type LabNode } from "../layout.js";
import { nodeDir, type LabProcessKind, type LabState } from "../state.js";

/** An agent that does not answer in this long is treated as not answering (paused, cut). */
const AGENT_CALL_DEADLINE_MS = 2000;
/** One CLI call inside a node: seconds normally, over 30 s seen on a crushed machine. */
const CLI_TIMEOUT_MS = 120_000;

export interface CliAnswer {
  ok: boolean;
  out: string;
  err: string;
}

export class LabAccess {
  constructor(
    readonly ex: Executor,
    readonly lab: Lab,
    readonly name: string,
  ) {}

  state(): LabState {
    return this.lab.requireState(this.name);
  }

  layout(): LabLayout {
    const s = this.state();
    return labLayout(s.name, s.nodes, s.managers, s.vm?.nodes);
  }

  node(name: string): LabNode {
    const n = this.layout().nodes.find((x) => x.name === name);
    if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `lab ${this.name} has no node ${name}`);
    return n;
  }

  pid(node: string, kind: LabProcessKind): number | undefined {
    return this.state().processes.find((p) => p.node === node && p.kind === kind)?.pid;
  }

  running(node: string, kind: LabProcessKind): boolean {
    const pid = this.pid(node, kind);
    return pid !== undefined && isAlive(pid);
  }

  /** An executor acting on `node`'s kernel, and where (its namespace, or its VM's own). */
  kernel(node: string): { ex: Executor; at: InNetns } {
    return this.lab.kernel(this.name, node);
  }

  /** `swarmnet ARGS…` inside `node`; never throws for a failing command. */
  async cli(node: string, args: readonly string[]): Promise<CliAnswer> {
    const target = this.lab.execTarget(this.name, node);
    const r = await target.host.run(
      [process.execPath, CLI_MAIN, ...args],
      { ...target.env, SWARMNET_LOG_LEVEL: "warn" },
      CLI_TIMEOUT_MS,
    );
    return {
      ok: r.exitCode === 0,
      out: r.stdout,
      err: (r.stderr.trim().split("\n")[0] ?? "").replace(/^swarmnet: /, ""),
    };
  }

  /**
   * A control command printing JSON (give `--format json` where the command needs it),
   * answered by the cluster: tried from each manager node whose agent
   * and manager run (the first that answers wins), then from any node.
   */
  async control<T>(args: readonly string[]): Promise<T> {
    const layout = this.layout();
    const order = [
      ...layout.nodes.filter((n) => n.role === "manager" && this.running(n.name, "manager")),
      ...layout.nodes.filter((n) => n.role !== "manager"),
    ];
    let last = "no node to ask";
    for (const n of order) {
      const r = await this.cli(n.name, args);
      if (r.ok) return JSON.parse(r.out) as T;
      last = `${n.name}: ${r.err}`;
    }
    throw new SwarmnetError(ErrorCode.Unavailable, `swarmnet ${args.join(" ")}: ${last}`);
  }

  agent(node: string): AgentClient {
    return new AgentClient(join(nodeDir(this.name, node), "agent.sock"), AGENT_CALL_DEADLINE_MS);
  }

  /** Every key under the managers' prefix and its value, read from a live etcd member. */
  async etcd(prefix = "/swarmnet/v1/"): Promise<Map<string, string>> {
    const layout = this.layout();
    let last = "no etcd member running";
    for (const m of layout.nodes.filter((n) => n.role === "manager" && this.running(n.name, "etcd"))) {
      // etcd is closed (mutual TLS): the lab says where it is and which certificate reads it.
      const access = this.lab.etcd(this.name, m.name);
      const r = await access.host.run(
        ["etcdctl", "--dial-timeout=2s", "--command-timeout=5s", "get", "--prefix", prefix, "-w", "json"],
        access.etcdctlEnv,
        15_000,
      );
      if (r.exitCode !== 0) {
        last = (r.stderr || r.stdout).trim().split("\n")[0] ?? "";
        continue;
      }
      const body = JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] };
      const out = new Map<string, string>();
      const text = (b64: string) => Buffer.from(b64, "base64").toString("utf8");
      for (const kv of body.kvs ?? []) out.set(text(kv.key), text(kv.value));
      return out;
    }
    throw new SwarmnetError(ErrorCode.Unavailable, `cannot read etcd: ${last}`);
  }
}

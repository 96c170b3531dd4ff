/**
 * Where a lab node's processes run, behind one small interface so the lab treats both
 * kinds of node alike: a network namespace on this host (`NetnsHost`: the executor's
 * `ip netns exec` / nsenter, host pids), or a VM (`VmHost`: the guest daemon over the
 * VM's control link, guest pids — deploy/vm/). `lab up`, `exec`, `status`, `restart`
 * and cluster formation only speak this interface.
 */
import { existsSync } from "node:fs";
import type { CommandResult, Executor } from "../../common/executor.js";
import { isAliveAs, stopProcesses } from "../../common/process.js";
import { GuestClient } from "../vm/guest-client.js";

export interface NodeHost {
  /** Runs a command to completion inside the node (a netns command times out after `timeoutMs`, default 60 s). */
  run(argv: readonly string[], env: Record<string, string>, timeoutMs?: number): Promise<CommandResult>;
  /** Starts a long-lived process inside the node, output appended to `logFile`; its pid there. */
  start(argv: readonly string[], env: Record<string, string>, logFile: string): Promise<number>;
  /** Whether `pid` (one this lab started) still runs. */
  running(pid: number): Promise<boolean>;
  /** Sends `sig` to `pid` if it still runs (chaos pause/continue); false if it does not. */
  signal(pid: number, sig: NodeJS.Signals): Promise<boolean>;
  /** SIGTERM (or SIGKILL with `kill`), bounded, then SIGKILL; resolves when it is gone. */
  stop(pid: number, kill: boolean): Promise<void>;
  /** Whether a file (e.g. a control socket) exists inside the node. */
  exists(path: string): Promise<boolean>;
  /** Runs a command attached to this terminal; resolves to its exit code. */
  interactive(argv: readonly string[], env: Record<string, string>): Promise<number>;
}

export class NetnsHost implements NodeHost {
  constructor(
    private readonly ex: Executor,
    readonly netns: string,
    /** Recognises this lab's processes (pids get reused). */
    private readonly isOurs: (cmd: string) => boolean,
  ) {}

  run(argv: readonly string[], env: Record<string, string>, timeoutMs?: number): Promise<CommandResult> {
    return this.ex.runIn(this.netns, argv, timeoutMs === undefined ? { env } : { env, timeoutMs });
  }

  async start(argv: readonly string[], env: Record<string, string>, logFile: string): Promise<number> {
    return this.ex.startDetached(argv, { netns: this.netns, logFile, env }).pid;
  }

  async running(pid: number): Promise<boolean> {
    return isAliveAs(pid, this.isOurs);
  }

  async signal(pid: number, sig: NodeJS.Signals): Promise<boolean> {
    if (!(await this.running(pid))) return false;
    process.kill(pid, sig);
    return true;
  }

  async stop(pid: number, kill: boolean): Promise<void> {
    if (!(await this.running(pid))) return;
    if (kill) process.kill(pid, "SIGKILL");
    await stopProcesses([pid]);
  }

  async exists(path: string): Promise<boolean> {
    return existsSync(path); // a namespace shares this host's files
  }

  interactive(argv: readonly string[], env: Record<string, string>): Promise<number> {
    return this.ex.interactive(this.netns, argv, env);
  }
}

const STOP_GRACE_MS = 5000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class VmHost implements NodeHost {
  readonly client: GuestClient;

  constructor(controlSocket: string) {
    this.client = new GuestClient(controlSocket);
  }

  run(argv: readonly string[], env: Record<string, string>): Promise<CommandResult> {
    return this.client.run(argv, env);
  }

  async start(argv: readonly string[], env: Record<string, string>, logFile: string): Promise<number> {
    const r = await this.client.request({ op: "spawn", argv: [...argv], env, logFile });
    return r.pid ?? 0;
  }

  async running(pid: number): Promise<boolean> {
    try {
      const r = await this.client.request({ op: "alive", pids: [pid] });
      return r.alive?.[0] === true;
    } catch {
      return false; // the VM itself is gone
    }
  }

  async signal(pid: number, sig: NodeJS.Signals): Promise<boolean> {
    if (!(await this.running(pid))) return false;
    await this.client.request({ op: "kill", pid, signal: sig });
    return true;
  }

  async stop(pid: number, kill: boolean): Promise<void> {
    if (!(await this.running(pid))) return;
    await this.client.request({ op: "kill", pid, signal: kill ? "SIGKILL" : "SIGTERM" });
    const deadline = Date.now() + STOP_GRACE_MS;
    while ((await this.running(pid)) && Date.now() < deadline) await sleep(100);
    if (await this.running(pid)) await this.client.request({ op: "kill", pid, signal: "SIGKILL" });
    while (await this.running(pid)) await sleep(100);
  }

  async exists(path: string): Promise<boolean> {
    return (await this.client.request({ op: "exists", path })).exists === true;
  }

  async interactive(argv: readonly string[], env: Record<string, string>): Promise<number> {
    const code = await this.client.exec(argv, env, {
      stdin: process.stdin,
      stdout: (d) => process.stdout.write(d),
      stderr: (d) => process.stderr.write(d),
    });
    process.stdin.pause();
    process.stdin.unref?.();
    return code;
  }
}

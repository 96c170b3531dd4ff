/**
 * A `CommandRunner` for long-running processes (the agent): every command is run by one
 * long-lived helper, `command-helper.py`, instead of a fork of this process.
 *
 * Why: forking copies the parent's page tables, so each `ip`/`nft` the agent started cost
 * it 10–16 ms of CPU at 130–220 MB resident (measured with execa and with bare
 * `child_process.spawn`), blocking its event loop meanwhile; an idle agent's resync and
 * every container operation paid it per command (#16: most of an idle agent's CPU). The
 * helper is a few MB and starts children with vfork; a command costs this process a line
 * written and a line parsed.
 *
 * Results are shaped like ExecaRunner's (127: not installed, 124: timed out). A helper
 * that dies fails the commands in flight with 124 (their effect is unknown, as with a
 * killed process) and the next command starts a new one; one that cannot start at all
 * leaves this runner running commands itself (ExecaRunner). The helper exits when this
 * process does (its stdin closes), and never keeps it alive.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { python3 } from "./process.js";
import { ErrorCode, SwarmnetError } from "./errors.js";
import {
  ExecaRunner,
  type CommandResult,
  type CommandRunner,
  type DetachedProcess,
  type DetachedSpawn,
  type LongLivedProcess,
  type RunOptions,
} from "./executor.js";

/** Shipped as source: the compiled module sits at dist/common/, the script at common/. */
const HELPER = fileURLToPath(new URL("../../common/command-helper.py", import.meta.url));
const DEFAULT_TIMEOUT_MS = 60_000;
/** How long past a command's own timeout the helper may take to answer before it is replaced. */
const ANSWER_GRACE_MS = 10_000;

interface Pending {
  resolve(a: Answer): void;
  timer: NodeJS.Timeout;
}

/** A command's result; a detached start's `pid` (or a result if it failed), then its `exited`. */
interface Answer {
  id: number;
  code?: number;
  stdout?: string;
  stderr?: string;
  pid?: number;
  exited?: number | null;
}

const result = (a: Answer): CommandResult => ({
  exitCode: a.code ?? 124,
  stdout: a.stdout ?? "",
  stderr: a.stderr ?? "",
});

export class HelperRunner implements CommandRunner {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, Pending>();
  /** Detached programs' exits, by request id (resolved with their exit code, null for a signal). */
  private readonly exits = new Map<number, (code: number | null) => void>();
  private seq = 0;
  private readonly direct = new ExecaRunner();
  private broken = false;

  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const child = this.helper();
    if (child === undefined) return this.direct.run(file, args, options);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const request = {
      file,
      args,
      input: options.input ?? null,
      timeout: timeoutMs / 1000,
      env: options.env ?? null,
    };
    return this.request(child, request, timeoutMs).then(result);
  }

  startDetached(
    file: string,
    args: readonly string[],
    o: DetachedSpawn,
  ): Promise<DetachedProcess> | undefined {
    const child = this.helper();
    if (child === undefined) return undefined;
    const request = { file, args, log: o.logFile, env: o.env, cwd: o.cwd ?? null };
    const id = ++this.seq;
    const exited = new Promise<number | null>((resolve) => this.exits.set(id, resolve));
    return this.request(child, request, DEFAULT_TIMEOUT_MS, id).then((a) => {
      if (a.pid !== undefined) return { pid: a.pid, exited };
      this.exits.delete(id);
      const r = result(a);
      throw new SwarmnetError(
        r.exitCode === 127 ? ErrorCode.ToolMissing : ErrorCode.Internal,
        `cannot start ${file}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`,
      );
    });
  }

  private helper(): ChildProcessWithoutNullStreams | undefined {
    return this.broken ? undefined : (this.child ?? this.start());
  }

  /** Sends one request; resolves with its first answer. */
  private request(
    child: ChildProcessWithoutNullStreams,
    body: object,
    timeoutMs: number,
    id = ++this.seq,
  ): Promise<Answer> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // The helper did not answer in time: it is stuck; replace it.
        if (this.child === child) this.stop(child, "the command helper did not answer");
      }, timeoutMs + ANSWER_GRACE_MS);
      this.pending.set(id, { resolve, timer });
      if (this.pending.size === 1) this.ref(child, true);
      child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  open(file: string, args: readonly string[]): LongLivedProcess {
    return this.direct.open(file, args);
  }

  /** Ends the helper; a later command starts another. */
  close(): void {
    if (this.child !== undefined) this.stop(this.child, "the command helper was closed");
  }

  private start(): ChildProcessWithoutNullStreams | undefined {
    const python = python3();
    if (python === undefined) {
      this.broken = true;
      return undefined;
    }
    const child = spawn(python, [HELPER], { stdio: ["pipe", "pipe", "pipe"] });
    child.on("error", () => undefined); // then `close`
    child.stdin.on("error", () => undefined); // a dead helper: `close` reports it
    child.stderr.resume();
    child.on("close", () => {
      if (this.child === child) this.stop(child, "the command helper exited");
    });
    createInterface({ input: child.stdout }).on("line", (line) => this.onAnswer(line));
    this.child = child;
    this.ref(child, false);
    return child;
  }

  private onAnswer(line: string): void {
    let a: Answer;
    try {
      a = JSON.parse(line) as Answer;
    } catch {
      return;
    }
    if (a.exited !== undefined) {
      this.exits.get(a.id)?.(a.exited);
      this.exits.delete(a.id);
      return;
    }
    const p = this.pending.get(a.id);
    if (p === undefined) return;
    this.pending.delete(a.id);
    clearTimeout(p.timer);
    if (this.pending.size === 0 && this.child !== undefined) this.ref(this.child, false);
    p.resolve(a);
  }

  /** Fails what the helper had in flight and forgets it. */
  private stop(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child === child) this.child = undefined;
    child.kill("SIGKILL");
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve({ id, code: 124, stdout: "", stderr: why });
    }
    // Their programs run on (their own sessions); the agent's liveness check sees them end.
    this.exits.clear();
  }

  /** The helper keeps this process alive only while a command is in flight. */
  private ref(child: ChildProcessWithoutNullStreams, on: boolean): void {
    for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as (
      Socket | undefined
    )[]) {
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}

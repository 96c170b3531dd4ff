/**
 * The host's side of a VM node's control sessions (frames.ts): connects to the node's
 * relay socket and asks the guest daemon to exec, spawn, kill or report on processes.
 * Used in-process by the lab (no namespace to enter: the relay's socket is a file).
 */
import { connect, type Socket } from "node:net";
import { constants } from "node:os";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { CommandResult } from "../../common/executor.js";
import { SessionFrame, sessionFrame, sessionReader, type GuestReply, type GuestRequest } from "./frames.js";

function open(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    s.once("connect", () => resolve(s));
    s.once("error", (err) =>
      reject(
        new SwarmnetError(ErrorCode.Unavailable, `VM control socket ${socketPath}: ${err.message}`, {
          cause: err,
          retryable: true,
        }),
      ),
    );
  });
}

export interface ExecIo {
  /** Forwarded as the command's stdin (EOF when it ends); none: the command gets no stdin. */
  stdin?: NodeJS.ReadableStream;
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  /** Aborting closes the session (the daemon kills the command); exec then rejects. */
  signal?: AbortSignal;
}

export class GuestClient {
  constructor(readonly socketPath: string) {}

  /** One request answered by a reply (spawn, kill, alive). */
  async request(req: Exclude<GuestRequest, { op: "exec" }>): Promise<GuestReply & { ok: true }> {
    const s = await open(this.socketPath);
    const reader = sessionReader();
    const reply = await new Promise<GuestReply>((resolve, reject) => {
      s.on("data", (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.kind === SessionFrame.Reply) resolve(JSON.parse(f.payload.toString()) as GuestReply);
        }
      });
      s.on("close", () => reject(new SwarmnetError(ErrorCode.Unavailable, `VM control session closed`)));
      s.on("error", reject);
      s.write(sessionFrame(SessionFrame.Request, JSON.stringify(req)));
    });
    s.destroy();
    if (!reply.ok) throw new SwarmnetError(ErrorCode.Unavailable, `guest ${req.op}: ${reply.error}`);
    return reply;
  }

  /** Runs `argv` in the guest to completion; resolves to its exit code (128+n for signal n). */
  async exec(argv: readonly string[], env: Record<string, string>, io: ExecIo): Promise<number> {
    const s = await open(this.socketPath);
    const reader = sessionReader();
    const req: GuestRequest = { op: "exec", argv: [...argv], env, stdin: io.stdin !== undefined };
    return new Promise<number>((resolve, reject) => {
      let code: number | undefined;
      s.on("data", (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.kind === SessionFrame.Stdout) io.stdout(f.payload);
          else if (f.kind === SessionFrame.Stderr) io.stderr(f.payload);
          else if (f.kind === SessionFrame.Exit) {
            const e = JSON.parse(f.payload.toString()) as { code: number | null; signal: string | null };
            code = e.code ?? 128 + signalNumber(e.signal);
          }
        }
      });
      s.on("close", () => {
        io.stdin?.removeAllListeners("data");
        if (code === undefined) reject(new SwarmnetError(ErrorCode.Unavailable, "VM control session lost"));
        else resolve(code);
      });
      s.on("error", () => undefined);
      io.signal?.addEventListener("abort", () => s.destroy(), { once: true });
      s.write(sessionFrame(SessionFrame.Request, JSON.stringify(req)));
      io.stdin?.on("data", (d: Buffer | string) => s.write(sessionFrame(SessionFrame.Stdin, d)));
      io.stdin?.on("end", () => s.write(sessionFrame(SessionFrame.StdinEof)));
    });
  }

  /** exec with the output collected, like the executor's runIn. */
  async run(argv: readonly string[], env: Record<string, string> = {}): Promise<CommandResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exitCode = await this.exec(argv, env, { stdout: (d) => out.push(d), stderr: (d) => err.push(d) });
    return { exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  }

  /** True once the guest daemon answers. */
  async ready(): Promise<boolean> {
    try {
      await this.request({ op: "alive", pids: [] });
      return true;
    } catch {
      return false;
    }
  }
}

function signalNumber(signal: string | null): number {
  const n = signal === null ? undefined : (constants.signals as Record<string, number | undefined>)[signal];
  return n ?? 1;
}

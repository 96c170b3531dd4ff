/**
 * The executor's `CommandRunner` for a VM node: each command runs in the guest through its
 * daemon (guest-client.ts), so the executor — still the one place that builds and checks
 * `ip`, `nft`, `tc` command lines and turns their failures into `SwarmnetError`s — can act
 * on a VM's kernel as on a namespace's (`new Executor(new GuestRunner(socket))`, with no
 * netns: the node is the guest's own namespace). Used where the lab acts on a node's
 * kernel from the host (chaos faults); the agent inside a VM uses its own local executor.
 *
 * Shaped like ExecaRunner's results: a missing program is 127 (the daemon's ENOENT line),
 * a timed-out one 124 (its session is closed, which makes the daemon kill it).
 */
import { Readable } from "node:stream";
import type { CommandResult, CommandRunner, RunOptions } from "../../common/executor.js";
import { GuestClient } from "./guest-client.js";

const DEFAULT_TIMEOUT_MS = 60_000;

export class GuestRunner implements CommandRunner {
  private readonly client: GuestClient;

  constructor(controlSocket: string) {
    this.client = new GuestClient(controlSocket);
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const abort = new AbortController();
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const exitCode = await this.client.exec([file, ...args], options.env ?? {}, {
        ...(options.input === undefined ? {} : { stdin: Readable.from([options.input]) }),
        stdout: (d) => out.push(d),
        stderr: (d) => err.push(d),
        signal: abort.signal,
      });
      // A program that could not start: 127 and spawn's ENOENT message, as toolError expects.
      return { exitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
    } catch (e) {
      if (!abort.signal.aborted) throw e;
      return { exitCode: 124, stdout: Buffer.concat(out).toString(), stderr: "timed out" };
    } finally {
      clearTimeout(timer);
    }
  }
}

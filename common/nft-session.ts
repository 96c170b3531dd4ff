/**
 * A long-lived `nft -i` per namespace, so applying a change costs no process start.
 *
 * Why: `bench mesh` showed one backend change costing ~22 ms in spawning `nft -f -` alone
 * (process start, library init, netlink cache), whatever the table's size; the rest of
 * the change is well under a millisecond. A session keeps one `nft -i` running and feeds
 * it transactions over a pipe.
 *
 * Atomicity is kept: each transaction is written to a file and sent as one
 * `include "FILE"` line, and nft runs each interactive line as one batch — all or
 * nothing, exactly as `nft -f` (test/netns/common/nft-session.test.ts proves it on the
 * kernel). nft prints nothing on success; to know where a transaction's output ends, a
 * marker command that always fails with a known echo (`list table ip swarmnet_tx_N`)
 * follows it, and stderr is merged into stdout (`2>&1`) so the two arrive in order.
 * Whatever came before the marker's error is the transaction's: empty means applied.
 *
 * If nft dies or stops answering, the transaction fails like a failed `nft -f` and the
 * next one starts a fresh process. Runners that cannot keep a process (the unit tests'
 * fakes) get `nft -f -` per transaction instead: same semantics, no session.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "./errors.js";
import type { Executor, InNetns, LongLivedProcess } from "./executor.js";
import { toolError } from "./executor.js";
import { isAlive } from "./process.js";
import { SerialQueue } from "./serial-queue.js";

/** How long one transaction may take before the session is declared stuck. */
const TRANSACTION_TIMEOUT_MS = 60_000;

const TRANSACTION_FILE = /^swarmnet-nft-(\d+)-[0-9a-f]+\.nft$/;

/**
 * Removes the transaction files of processes that are gone: a process killed while nft
 * read one (SIGKILL runs no `finally`) leaves it behind. The agent calls it at start.
 */
export function removeStaleTransactionFiles(dir = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const pid = TRANSACTION_FILE.exec(name)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/** What a session did since it was made (the agent's metrics read it). */
export interface NftSessionStats {
  /** Transactions applied. */
  applied: number;
  /** Transactions nft refused, or that a dead or stuck nft never answered. */
  failed: number;
  /** `nft -i` processes started (1 + replacements of a dead or stuck one). */
  starts: number;
}

export class NftSession {
  readonly stats: NftSessionStats = { applied: 0, failed: 0, starts: 0 };
  private proc: LongLivedProcess | undefined;
  private output = "";
  /** The transaction waiting for its marker: on `proc`'s output and on its end. */
  private waiter: { proc: LongLivedProcess; check(): void; ended(): void } | undefined;
  private seq = 0;
  /** The transaction's file, there only while nft reads it (`removeStaleTransactionFiles`). */
  private readonly file = join(tmpdir(), `swarmnet-nft-${process.pid}-${randomBytes(4).toString("hex")}.nft`);
  private readonly queue = new SerialQueue();

  constructor(
    private readonly ex: Executor,
    private readonly where: InNetns = {},
  ) {}

  /** Applies `script` (nft -f syntax) as one atomic transaction. */
  apply(script: string): Promise<void> {
    return this.queue.run(() =>
      this.applyNow(script).then(
        () => void this.stats.applied++,
        (err: unknown) => {
          this.stats.failed++;
          throw err;
        },
      ),
    );
  }

  /** Ends the nft process; a later apply starts again. */
  close(): void {
    this.proc?.kill();
    this.proc = undefined;
  }

  private async applyNow(script: string): Promise<void> {
    const proc = this.proc ?? this.start();
    if (proc === undefined) return this.ex.nftApply(script, this.where);
    const file = this.file;
    writeFileSync(file, script);
    const marker = `swarmnet_tx_${++this.seq}`;
    const echo = `list table ip ${marker}`;
    proc.write(`include "${file}"\n${echo}\n`);
    const text = await this.until(proc, marker, echo).finally(() => rmSync(file, { force: true }));
    const errorLine = text.lastIndexOf("Error: No such file or directory");
    const own = (errorLine < 0 ? "" : text.slice(0, errorLine)).trim();
    if (/Error:/.test(own)) {
      // As `nft -f` would say it: without the include's own "In file included from" line.
      const stderr = own.replace(/^In file included from .*\n/gm, "");
      throw toolError("nft", ["-f", file], { exitCode: 1, stdout: "", stderr });
    }
  }

  /**
   * Output up to and including the marker's caret line; the rest stays for the next call.
   * Rejects when `proc` ends first, or after TRANSACTION_TIMEOUT_MS.
   */
  private until(proc: LongLivedProcess, marker: string, echo: string): Promise<string> {
    const done = new RegExp(`^${echo}\\n\\s*\\^+\\s*\\n`, "m");
    return new Promise((resolve, reject) => {
      const settle = (finish: () => void) => {
        clearTimeout(timer);
        this.waiter = undefined;
        finish();
      };
      const timer = setTimeout(
        () =>
          settle(() => {
            this.close();
            reject(
              new SwarmnetError(
                ErrorCode.Timeout,
                `nft session: no answer within ${TRANSACTION_TIMEOUT_MS} ms`,
              ),
            );
          }),
        TRANSACTION_TIMEOUT_MS,
      );
      const check = () => {
        const m = done.exec(this.output);
        if (m === null) return;
        const end = m.index + m[0].length;
        const text = this.output.slice(0, end);
        this.output = this.output.slice(end);
        settle(() => resolve(text));
      };
      const ended = () =>
        settle(() =>
          reject(
            new SwarmnetError(ErrorCode.KernelRejected, `nft session ended before ${marker} was applied`),
          ),
        );
      this.waiter = { proc, check, ended };
      check();
    });
  }

  private start(): LongLivedProcess | undefined {
    const proc = this.ex.openNftShell(this.where);
    if (proc === undefined) return undefined;
    this.stats.starts++;
    this.output = "";
    proc.onOutput((chunk) => {
      this.output += chunk;
      this.waiter?.check();
    });
    // Once per process, not per transaction: a reaction per transaction on this promise
    // kept every transaction's closure and timer alive for as long as the process lived.
    void proc.exited.then(() => {
      if (this.proc === proc) this.proc = undefined;
      if (this.waiter?.proc === proc) this.waiter.ended();
    });
    this.proc = proc;
    return proc;
  }
}

/**
 * The test side of ui-browser.ts: starts the browser driver inside a lab node's namespace
 * and exchanges one JSON line per command with it. `close()` ends the driver (and its
 * chromium) also when a test failed half-way.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { CLI_MAIN } from "../../deploy/lab/lab.js";

const DRIVER = fileURLToPath(new URL("./ui-browser.js", import.meta.url));

/** Where tests keep what a person may want to look at afterwards (screenshots). */
export function testOutputDir(sub: string): string {
  const root = process.env["SWARMNET_TEST_OUTPUT"] ?? join(dirname(CLI_MAIN), "..", "..", "test-output");
  const dir = join(root, sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface DriverReply {
  ok: boolean;
  error?: string;
  html?: string;
  ms?: number;
  offLoopback?: string[];
}

export class UiBrowser {
  private readonly replies: DriverReply[] = [];
  private readonly waiting: ((r: DriverReply) => void)[] = [];
  private stderr = "";

  private constructor(private readonly proc: ResultPromise) {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on("line", (l) => {
      const r = JSON.parse(l) as DriverReply;
      const w = this.waiting.shift();
      if (w !== undefined) w(r);
      else this.replies.push(r);
    });
    proc.stderr?.on("data", (d: Buffer) => (this.stderr += d.toString()));
  }

  static open(lab: string, node: string, url: string): UiBrowser {
    const proc = execa(
      process.execPath,
      [CLI_MAIN, "lab", "exec", "--name", lab, node, "--", process.execPath, DRIVER, url],
      { detached: true, reject: false, stdin: "pipe", env: { SWARMNET_LOG_LEVEL: "warn" } },
    );
    return new UiBrowser(proc);
  }

  send(command: object): Promise<DriverReply> {
    this.proc.stdin?.write(JSON.stringify(command) + "\n");
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      void this.proc.then((r) =>
        reject(new Error(`browser driver exited (${r.exitCode}): ${this.stderr.trim().slice(-500)}`)),
      );
    });
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === undefined || this.proc.exitCode === null) {
      try {
        if (this.proc.pid !== undefined) process.kill(-this.proc.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await this.proc;
  }
}

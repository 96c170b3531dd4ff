/**
 * Helpers for tests on the real kernel: skip when not root, a unique lab name per test
 * (so a failed run never collides with the next), and listings of what a lab left.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { Executor } from "../../common/executor.js";
import { belongsToLab } from "../../deploy/lab/layout.js";
import { CLI_MAIN } from "../../deploy/lab/lab.js";

export const isRoot = process.getuid?.() === 0;

/** Skips the whole suite (with the reason printed) unless running as root. */
export function requireRoot(ctx: Mocha.Context): void {
  if (!isRoot) {
    ctx.skip();
  }
}

/** A lab name unique to this test run: "t" + 6 hex digits (fits the 12-char limit). */
export function uniqueLabName(): string {
  return `t${randomBytes(3).toString("hex")}`;
}

export async function labNamespaces(ex: Executor, lab: string): Promise<string[]> {
  return (await ex.netnsList()).filter((ns) => belongsToLab(lab, ns));
}

/**
 * Running (non-zombie) processes that belong to the lab: their environment names it.
 * Zombies are left out: on machines whose PID 1 does not reap orphans they linger
 * without holding anything.
 */
export function labProcesses(lab: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (/^\d+ \(.*\) Z /.test(stat)) continue;
      const env = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (env.includes(`SWARMNET_LAB=${lab}`)) found.push(Number(entry));
    } catch {
      // raced with its exit
    }
  }
  return found;
}

export { CLI_MAIN };

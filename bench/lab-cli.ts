/**
 * What the lab benchmarks (lab-e2e, observe, containers) share: a numeric `--flag`, the
 * CLI run as a child process as a person would (a failure throws with its stderr),
 * `swarmnet` on one node of a lab, a nearest-rank percentile, and a process's CPU and
 * memory read from /proc.
 */
import { readFileSync } from "node:fs";
import { execa } from "execa";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { childrenOf, statOf } from "../common/process.js";

export function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

export async function cli(args: string[]): Promise<string> {
  const r = await execa(process.execPath, [CLI_MAIN, ...args], {
    reject: false,
    env: { SWARMNET_LOG_LEVEL: "warn" },
  });
  if (r.exitCode !== 0) throw new Error(`swarmnet ${args.join(" ")}: ${String(r.stderr)}`);
  return String(r.stdout);
}

/** `swarmnet ARGS…` on `node` of `lab`. */
export function labSwarmnet(lab: string): (node: string, ...args: string[]) => Promise<string> {
  return (node, ...args) => cli(["lab", "exec", "--name", lab, node, "--", "swarmnet", ...args]);
}

/** Nearest-rank percentile, rounded (NaN without values). */
export function pct(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN);
}

export const TICKS_PER_S = 100; // USER_HZ on Linux

export interface ProcessUsage {
  at: number;
  /** CPU ticks, user + system, of the process. */
  ticks: number;
  /**
   * CPU ticks of the tools it ran: its children it has waited for, plus its long-lived
   * helpers (common/command-helper.py, netns-listen.py: live children of it) with the
   * children they waited for — the agent's kernel commands run under its helper.
   */
  childTicks: number;
  rssMb: number;
  /** Resident memory of those helpers. */
  helpersRssMb: number;
}

/** Helper scripts an agent keeps running as its children. */
const HELPER_SCRIPT = /(command-helper|netns-listen)\.py/;

function rssMbOf(pid: number): number {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Math.round(Number(rss ?? 0) / 102.4) / 10;
}

/** A process's CPU ticks (its own, its tools' and helpers') and RSS now, from /proc. */
export function processUsage(pid: number): ProcessUsage {
  const f = statOf(pid);
  let childTicks = (f[13] ?? 0) + (f[14] ?? 0);
  let helpersRssMb = 0;
  for (const h of childrenOf(pid, (cmd) => HELPER_SCRIPT.test(cmd))) {
    try {
      const g = statOf(h);
      childTicks += (g[11] ?? 0) + (g[12] ?? 0) + (g[13] ?? 0) + (g[14] ?? 0);
      helpersRssMb += rssMbOf(h);
    } catch {
      // gone meanwhile
    }
  }
  return {
    at: Date.now(),
    ticks: (f[11] ?? 0) + (f[12] ?? 0),
    childTicks,
    rssMb: rssMbOf(pid),
    helpersRssMb: Math.round(helpersRssMb * 10) / 10,
  };
}

/** Percent of one core that `ticks` are over `ms`, to 0.1. */
export const cpuPercent = (ticks: number, ms: number): number =>
  Math.round((ticks / TICKS_PER_S / (ms / 1000)) * 1000) / 10;

/**
 * What the lab benchmarks (lab-e2e, observe) share: a numeric `--flag`, the CLI run as a
 * child process as a person would (a failure throws with its stderr), `swarmnet` on one
 * node of a lab, and a nearest-rank percentile.
 */
import { execa } from "execa";
import { CLI_MAIN } from "../deploy/lab/lab.js";

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

/** `swarmnet bench lab-e2e`: whole-system latencies in a lab, with where the time goes (bench/lab-e2e.ts). */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { LAB_E2E_DEFAULTS, runLabE2e } from "../bench/lab-e2e.js";
import { printJson } from "./output.js";

function count(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--${flag} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

export function register(bench: Command): void {
  bench
    .command("lab-e2e")
    .description(
      "whole system in a lab: run → reachable, publish → serving, mesh vs direct requests/s, with a breakdown per stage",
    )
    // n3 holds the probes' target: three nodes at least.
    .option("--nodes <n>", "lab nodes", String(LAB_E2E_DEFAULTS.nodes))
    .option("--runs <n>", "run → reachable samples", String(LAB_E2E_DEFAULTS.runs))
    .option("--publishes <n>", "publish → serving samples", String(LAB_E2E_DEFAULTS.publishes))
    .option("--json", "print JSON (the default and only format)")
    .action(async (o: { nodes: string; runs: string; publishes: string }) => {
      printJson(
        await runLabE2e({
          nodes: count("nodes", o.nodes, 3),
          runs: count("runs", o.runs, 1),
          publishes: count("publishes", o.publishes, 1),
        }),
      );
    });
}

/** `swarmnet bench lab-e2e`: whole-system latencies in a lab, with where the time goes (bench/lab-e2e.ts). */
import type { Command } from "commander";
import { LAB_E2E_DEFAULTS, runLabE2e } from "../bench/lab-e2e.js";
import { MAX_LAB_NODES, parseCount } from "../deploy/lab/layout.js";
import { printJson } from "./output.js";

/** More samples than this is a typo, not a benchmark. */
const MAX_SAMPLES = 10_000;

export function register(bench: Command): void {
  bench
    .command("lab-e2e")
    .description(
      "whole system in a lab: run → reachable, publish → serving, scale → serving, mesh vs direct requests/s, with a breakdown per stage",
    )
    // n3 holds the probes' target: three nodes at least.
    .option("--nodes <n>", "lab nodes", String(LAB_E2E_DEFAULTS.nodes))
    .option("--runs <n>", "run → reachable samples", String(LAB_E2E_DEFAULTS.runs))
    .option("--publishes <n>", "publish → serving samples", String(LAB_E2E_DEFAULTS.publishes))
    .option(
      "--scales <n>",
      "scale up → new task serving on every node samples",
      String(LAB_E2E_DEFAULTS.scales),
    )
    .option("--json", "print JSON (the default and only format)")
    .action(async (o: { nodes: string; runs: string; publishes: string; scales: string }) => {
      printJson(
        await runLabE2e({
          nodes: parseCount("nodes", o.nodes, 3, MAX_LAB_NODES),
          runs: parseCount("runs", o.runs, 1, MAX_SAMPLES),
          publishes: parseCount("publishes", o.publishes, 1, MAX_SAMPLES),
          scales: parseCount("scales", o.scales, 1, MAX_SAMPLES),
        }),
      );
    });
}

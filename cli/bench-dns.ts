/** `swarmnet bench dns`: the embedded DNS's latency, throughput, name convergence and memory in a lab. */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { DNS_BENCH_DEFAULTS, runDnsBench } from "../bench/dns.js";
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
    .command("dns")
    .description("embedded DNS in a lab: query latency and rate, name convergence, memory per container")
    .option("--nodes <n>", "lab nodes", String(DNS_BENCH_DEFAULTS.nodes))
    .option("--runs <n>", "convergence runs", String(DNS_BENCH_DEFAULTS.runs))
    .option(
      "--containers <n>",
      "containers added for the memory measurement",
      String(DNS_BENCH_DEFAULTS.containers),
    )
    .option("--queries <n>", "queries per kind of name for latency", String(DNS_BENCH_DEFAULTS.queries))
    .option("--json", "print JSON (the default and only format)")
    .action(async (o: { nodes: string; runs: string; containers: string; queries: string }) => {
      printJson(
        await runDnsBench({
          nodes: count("nodes", o.nodes, 2),
          runs: count("runs", o.runs, 1),
          containers: count("containers", o.containers, 1),
          queries: count("queries", o.queries, 1),
        }),
      );
    });
}

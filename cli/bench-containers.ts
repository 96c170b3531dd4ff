/** `swarmnet bench containers`: hundreds of containers in a lab — run speed, run latency, idle agent CPU and memory. */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { CONTAINERS_BENCH_DEFAULTS, runContainersBench } from "../bench/containers.js";
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
  const d = CONTAINERS_BENCH_DEFAULTS;
  bench
    .command("containers")
    .description("many containers in a lab: run -d in parallel loops, run latency, idle agent CPU and RSS")
    .option("--nodes <n>", "lab nodes", String(d.nodes))
    .option("--busy <n>", "nodes that run the containers (n1…)", String(d.busy))
    .option("--containers <n>", "containers run over the busy nodes", String(d.containers))
    .option("--runs <n>", "timed runs on n1, empty and loaded", String(d.runs))
    .option("--idle-seconds <n>", "length of each idle CPU window", String(d.idleSeconds))
    .option("--json", "print JSON (the default and only format)")
    .action(
      async (o: { nodes: string; busy: string; containers: string; runs: string; idleSeconds: string }) => {
        const nodes = count("nodes", o.nodes, 1);
        const busy = count("busy", o.busy, 1);
        if (busy > nodes)
          throw new SwarmnetError(ErrorCode.InvalidArgument, `--busy ${busy} is more than --nodes ${nodes}`);
        printJson(
          await runContainersBench({
            nodes,
            busy,
            containers: count("containers", o.containers, 1),
            runs: count("runs", o.runs, 1),
            idleSeconds: count("idle-seconds", o.idleSeconds, 1),
          }),
        );
      },
    );
}

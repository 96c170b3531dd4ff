/** `swarmnet bench containers`: hundreds of containers in a lab — run speed, run latency, idle agent CPU and memory. */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { CONTAINERS_BENCH_DEFAULTS, runContainersBench } from "../bench/containers.js";
import { MAX_LAB_NODES, parseCount } from "../deploy/lab/layout.js";
import { printJson } from "./output.js";

/** Bounds of the counts (a lab's nodes; containers and runs a small machine finishes). */
const MAX_CONTAINERS = 10_000;
const MAX_SECONDS = 3_600;

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
        const nodes = parseCount("nodes", o.nodes, 1, MAX_LAB_NODES);
        const busy = parseCount("busy", o.busy, 1, MAX_LAB_NODES);
        if (busy > nodes)
          throw new SwarmnetError(ErrorCode.InvalidArgument, `--busy ${busy} is more than --nodes ${nodes}`);
        printJson(
          await runContainersBench({
            nodes,
            busy,
            containers: parseCount("containers", o.containers, 1, MAX_CONTAINERS),
            runs: parseCount("runs", o.runs, 1, MAX_CONTAINERS),
            idleSeconds: parseCount("idle-seconds", o.idleSeconds, 1, MAX_SECONDS),
          }),
        );
      },
    );
}

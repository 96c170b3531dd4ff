/**
 * `swarmnet bench datapath`: overlay vs underlay throughput and RTT, convergence, churn;
 * and the local drivers (bridge, masquerade, `-p` DNAT, macvlan; `run -p` → answering)
 * under `local` (`--local`: only those).
 */
import type { Command } from "commander";
import { DATAPATH_DEFAULTS, runDatapathBench } from "../bench/datapath.js";
import { runEncryptedDatapathBench } from "../bench/encryption-datapath.js";
import { runLocalDatapathBench } from "../bench/local-datapath.js";
import { printJson } from "./output.js";

export function register(bench: Command): void {
  bench
    .command("datapath")
    .description("TCP throughput and RTT: underlay vs VXLAN overlay; convergence; endpoint churn")
    .option("--seconds <s>", "iperf3 duration per measurement", String(DATAPATH_DEFAULTS.seconds))
    .option("--runs <n>", "convergence runs", String(DATAPATH_DEFAULTS.convergenceRuns))
    .option("--churn <n>", "containers in the churn test", String(DATAPATH_DEFAULTS.churnContainers))
    .option("--encrypted", "measure the encrypted overlay (vs plain vs underlay) and loss across rotations")
    .option("--local", "measure only the local drivers (bridge, masquerade, -p DNAT, macvlan)")
    .option("--json", "print JSON (the default and only format)")
    .action(
      async (o: { seconds: string; runs: string; churn: string; encrypted?: boolean; local?: boolean }) => {
        if (o.encrypted) {
          printJson(await runEncryptedDatapathBench({ seconds: Number(o.seconds) }));
          return;
        }
        const local = () => runLocalDatapathBench({ seconds: Number(o.seconds), runs: Number(o.runs) });
        if (o.local) {
          printJson({ local: await local() });
          return;
        }
        const result = await runDatapathBench({
          seconds: Number(o.seconds),
          convergenceRuns: Number(o.runs),
          churnContainers: Number(o.churn),
          churnNodes: DATAPATH_DEFAULTS.churnNodes,
        });
        printJson({ ...result, local: await local() });
      },
    );
}

/** `swarmnet manager`: a manager process (gRPC in front of etcd). */
import type { Command } from "commander";
import { runManager } from "../manager/index.js";

export function register(program: Command): void {
  program
    .command("manager")
    .description("run a manager (stays in the foreground until SIGTERM)")
    .option("--node-name <name>", "the node this manager runs on")
    .option("--listen <addr>", "gRPC listen address host:port", "127.0.0.1:4242")
    .option("--etcd <urls...>", "etcd endpoints (repeat or comma-separate)", ["http://127.0.0.1:2379"])
    .action(async (o: { nodeName?: string; listen: string; etcd: string[] }) => {
      await runManager({ nodeName: o.nodeName, listen: o.listen, etcd: o.etcd.flatMap((e) => e.split(",")) });
    });
}

/**
 * `swarmnet bench …`: benchmarks that print one JSON object. Each benchmark family lives in
 * its own `bench-*.ts` file and registers a subcommand here.
 */
import type { Command } from "commander";
import * as gossip from "./bench-gossip.js";
import * as control from "./bench-control.js";
import * as mesh from "./bench-mesh.js";
import * as datapath from "./bench-datapath.js";
import * as dns from "./bench-dns.js";
import * as containers from "./bench-containers.js";
import * as labE2e from "./bench-lab-e2e.js";

export function register(program: Command): void {
  const bench = program.command("bench").description("benchmarks (JSON on stdout)");
  for (const family of [gossip, control, mesh, datapath, dns, containers, labE2e]) family.register(bench);
}

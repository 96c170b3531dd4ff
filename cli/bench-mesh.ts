/** `swarmnet bench mesh`: routing-mesh apply cost and connection latency vs number of services. */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import { MAX_SERVICES, MESH_BENCH_DEFAULTS, runMeshBench } from "../bench/mesh.js";
import type { MeshBackendKind } from "../agent/ingress/index.js";
import { printJson } from "./output.js";

function count(flag: string, raw: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max))
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

function backendKind(raw: string): MeshBackendKind {
  if (raw === "nftables" || raw === "ipvs") return raw;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `--backend must be nftables or ipvs, got ${JSON.stringify(raw)}`,
  );
}

export function register(bench: Command): void {
  bench
    .command("mesh")
    .description(
      "routing mesh: full and one-backend apply time, table size, connect latency through the mesh",
    )
    .option("--services <n>", "published services", String(MESH_BENCH_DEFAULTS.services))
    .option("--backends <n>", "backends per service", String(MESH_BENCH_DEFAULTS.backends))
    .option("--changes <n>", "one-backend changes measured", String(MESH_BENCH_DEFAULTS.changes))
    .option("--connects <n>", "TCP connects per latency measurement", String(MESH_BENCH_DEFAULTS.connects))
    .option(
      "--backend <backend>",
      "nftables, or ipvs (needs ip_vs; also runs nftables and reports ratios to it)",
      MESH_BENCH_DEFAULTS.backend,
    )
    .option("--json", "print JSON (the default and only format)")
    .action(
      async (o: {
        services: string;
        backends: string;
        changes: string;
        connects: string;
        backend: string;
      }) => {
        const result = await runMeshBench(
          {
            services: count("services", o.services, 1, MAX_SERVICES),
            backends: count("backends", o.backends, 1, 240),
            changes: count("changes", o.changes, 1, 10_000),
            connects: count("connects", o.connects, 1, 100_000),
            backend: backendKind(o.backend),
          },
          new Executor(),
        );
        printJson(result);
      },
    );
}

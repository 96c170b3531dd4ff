/**
 * `swarmnet bench gossip`: SWIM membership on the simulated network (virtual clock), one
 * JSON object on stdout — broadcast convergence, crash detection (first / all), false
 * deaths and bytes per member per second. The field names are a contract (issue 3).
 */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { GOSSIP_PROFILES, type GossipProfile } from "../agent/gossip/config.js";
import { GOSSIP_BENCH_DEFAULTS, runGossipBenchIsolated } from "../bench/gossip.js";
import { printJson } from "./output.js";

interface Flags {
  nodes: string;
  loss: string;
  duration: string;
  profile: string;
  seed: string;
  encrypt?: boolean;
}

function parse(name: string, raw: string, min: number, max: number, integer: boolean): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--${name} must be ${integer ? "an integer" : "a number"} in ${min}..${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

export function register(bench: Command): void {
  const d = GOSSIP_BENCH_DEFAULTS;
  bench
    .command("gossip")
    .description(
      "gossip on the simulated network: broadcast convergence, failure detection, false deaths, bytes",
    )
    .option("--nodes <n>", "members in the simulated cluster", String(d.nodes))
    .option("--loss <p>", "probability that a datagram is lost, 0..1", String(d.loss))
    .option("--duration <s>", "simulated seconds", String(d.simSeconds))
    .option("--profile <name>", `gossip profile (${GOSSIP_PROFILES.join(", ")})`, d.profile)
    .option("--seed <n>", "seed of the simulation (same seed, same run)", String(d.seed))
    .option("--encrypt", "encrypt every packet with AES-256-GCM (off by default)")
    .option("--json", "print JSON (the default and only format)")
    .action(async (o: Flags) => {
      if (!(GOSSIP_PROFILES as readonly string[]).includes(o.profile)) {
        throw new SwarmnetError(
          ErrorCode.InvalidArgument,
          `--profile must be one of ${GOSSIP_PROFILES.join(", ")}, got ${JSON.stringify(o.profile)}`,
        );
      }
      const result = await runGossipBenchIsolated({
        ...d,
        nodes: parse("nodes", o.nodes, 2, 20_000, true),
        loss: parse("loss", o.loss, 0, 0.9, false),
        simSeconds: parse("duration", o.duration, 10, 86_400, true),
        profile: o.profile as GossipProfile,
        seed: parse("seed", o.seed, 0, 2 ** 31, true),
        encrypt: o.encrypt === true,
      });
      printJson(result);
    });
}

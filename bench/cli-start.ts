/**
 * How long a `swarmnet` process takes to start: wall time and CPU (user + system) of the
 * CLI run to completion for commands that need no cluster, so what is measured is Node's
 * start, module loading and commander — the part every CLI call, agent and manager pays
 * before its own work (an agent or manager start loads what `agent --help` or
 * `manager --help` loads).
 *
 *   node dist/bench/cli-start.js [--runs 20] [--entry dist/cli/main.js]
 *
 * `--entry` picks the script started (default: the one the lab and tests start, the
 * bundle), so the unbundled tsc output can be measured beside it. CPU comes from this
 * process's waited-for children's ticks in /proc (10 ms each on Linux): the p50 is
 * coarse, the mean is not. Commands run interleaved, so machine load falls on all alike.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { statOf } from "../common/process.js";
import { flag, pct } from "./lab-cli.js";

/** Commands and what each loads. */
export const CLI_START_COMMANDS: Record<string, string[]> = {
  version: ["--version"], // every command family (help, suggestions)
  network_ls_help: ["network", "ls", "--help"], // a client command: gRPC, the proto
  agent_help: ["agent", "--help"], // what an agent start loads
  manager_help: ["manager", "--help"], // what a manager start loads (etcd3 too)
};

export interface StartStats {
  wall_ms: { p50: number; p99: number };
  cpu_ms: { p50: number; mean: number };
}

export interface CliStartResult {
  entry: string;
  runs: number;
  commands: Record<string, StartStats>;
}

const MS_PER_TICK = 10; // USER_HZ = 100

/** CPU ticks of this process's waited-for children (cutime + cstime). */
function childTicks(): number {
  const f = statOf("self");
  return (f[13] ?? 0) + (f[14] ?? 0);
}

export function runCliStart(runs: number, entry = CLI_MAIN): CliStartResult {
  const samples = new Map<string, { wall: number[]; cpu: number[] }>();
  for (const name of Object.keys(CLI_START_COMMANDS)) samples.set(name, { wall: [], cpu: [] });
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(CLI_START_COMMANDS)) {
      const ticks = childTicks();
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [entry, ...args], { stdio: ["ignore", "ignore", "pipe"] });
      const wall = performance.now() - t0;
      if (r.status !== 0) throw new Error(`swarmnet ${args.join(" ")}: ${r.stderr.toString()}`);
      const s = samples.get(name) as { wall: number[]; cpu: number[] };
      s.wall.push(wall);
      s.cpu.push((childTicks() - ticks) * MS_PER_TICK);
    }
  }
  const commands: Record<string, StartStats> = {};
  for (const [name, s] of samples) {
    commands[name] = {
      wall_ms: { p50: pct(s.wall, 50), p99: pct(s.wall, 99) },
      cpu_ms: { p50: pct(s.cpu, 50), mean: Math.round(s.cpu.reduce((a, b) => a + b, 0) / s.cpu.length) },
    };
  }
  return { entry, runs, commands };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const i = process.argv.indexOf("--entry");
  const entry = i >= 0 ? resolve(process.argv[i + 1] ?? "") : CLI_MAIN;
  process.stdout.write(JSON.stringify(runCliStart(flag("runs", 20), entry)) + "\n");
}

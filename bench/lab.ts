/**
 * Lab benchmark: wall time of `lab up` and `lab down` for several lab sizes, each as one
 * JSON line `{"nodes":N,"up_ms":…,"down_ms":…}`. Runs the real CLI (as a user would),
 * under a unique lab name, and always takes the lab down.
 *
 *   node dist/bench/lab.js [--nodes 3,10,25] [--managers 1]
 *   node dist/bench/lab.js --vm [--vms 2]     VM nodes: boot, memory, Node slowdown (lab-vm.ts)
 */
import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { benchVmLab } from "./lab-vm.js";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

async function timed(args: string[]): Promise<number> {
  const started = performance.now();
  const r = await execa(process.execPath, [CLI_MAIN, ...args], {
    reject: false,
    env: { SWARMNET_LOG_LEVEL: "warn" },
  });
  if (r.exitCode !== 0) throw new Error(`swarmnet ${args.join(" ")} failed: ${String(r.stderr)}`);
  return Math.round(performance.now() - started);
}

if (process.argv.includes("--vm")) {
  process.stdout.write(JSON.stringify(await benchVmLab(Number(flag("vms", "2")))) + "\n");
  process.exit(0);
}

const sizes = flag("nodes", "3,10,25").split(",").map(Number);
const managers = flag("managers", "1");
for (const nodes of sizes) {
  const name = `b${randomBytes(3).toString("hex")}`;
  try {
    const up = await timed(["lab", "up", "--name", name, "--nodes", String(nodes), "--managers", managers]);
    const down = await timed(["lab", "down", "--name", name]);
    process.stdout.write(JSON.stringify({ nodes, up_ms: up, down_ms: down }) + "\n");
  } finally {
    await execa(process.execPath, [CLI_MAIN, "lab", "down", "--name", name], { reject: false });
  }
}

/**
 * The whole test suite in two lanes run side by side, with one closing summary line.
 *
 * Why two lanes and not mocha's `--parallel`: the suite's time is spent in two different
 * ways. The kernel tests (test/netns) bring up labs of agents, managers and etcd members
 * and keep this 2-core machine busy; run two of them at once and each one's gossip and
 * deadlines run on a machine twice as loaded, which is what the tests are not meant to
 * measure. The unit, fuzz, simulation and integration tests mostly wait (timers, a local
 * etcd, gRPC on loopback: about a third of a core on average), so they run beside the
 * kernel tests at little cost; so does the VM group (test/vm, SWARMNET_VM=0 leaves it out).
 * `--parallel` cannot keep kernel files apart, hence lanes.
 *
 * The kernel lane's output streams as it runs; the light lane's is kept and printed after
 * it, so neither interleaves. Each lane's reporter writes its counts and file times to a
 * JSON file (summary-reporter.cjs `results=`), and this prints the failed tests, the
 * slowest files and the "N passed, N failed, N skipped" line once for both. Exit 1 when a
 * test failed or a lane ended without its results (a crash). Ctrl-C or a CI kill reaches both lanes, whose
 * `after` hooks take their labs down.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";

interface LaneResults {
  passes: number;
  failures: number;
  pending: number;
  durationMs: number;
  files: [string, number][];
  failed: string[];
}

interface Lane {
  name: string;
  specs: string[];
}

/**
 * The kernel files that load the machine most run last, after the light lane has usually
 * finished: beside them its integration tests (fake agents heartbeating from the test
 * process) saw nodes go down under the load and failed.
 */
const HEAVY_KERNEL_FILES = ["chaos/chaos-lab.test.js", "agent/fast-path-vs-resync.test.js"];

function kernelFiles(): string[] {
  const dir = join("dist", "test", "netns");
  const files = (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith(".test.js"))
    .sort();
  const heavy = (f: string) => HEAVY_KERNEL_FILES.includes(f.split(sep).join("/"));
  return [...files.filter((f) => !heavy(f)), ...files.filter(heavy)].map((f) => join(dir, f));
}

const LANES: Lane[] = [
  { name: "kernel", specs: kernelFiles() },
  {
    name: "light",
    specs: [
      "dist/test/unit/**/*.test.js",
      "dist/test/fuzz/**/*.test.js",
      "dist/test/sim/**/*.test.js",
      "dist/test/integration/**/*.test.js",
      // The VM group (qemu under software emulation; its smoke part and the Vagrant test
      // unless SWARMNET_VM_FULL=1): two emulated CPUs for the ~6 minutes it runs, which
      // the kernel lane's labs pay for (measured: the whole suite 1,186 s without it,
      // 1,343 s with it, 2026-12-03). SWARMNET_VM=0 leaves it out.
      ...(process.env["SWARMNET_VM"] === "0" ? [] : ["dist/test/vm/**/*.test.js"]),
    ],
  },
];

const MOCHA = join("node_modules", "mocha", "bin", "mocha.js");
const REPORTER = join("test", "support", "summary-reporter.cjs");
const { printSummary } = createRequire(import.meta.url)(`../../../${REPORTER}`) as {
  printSummary(
    counts: Omit<LaneResults, "durationMs" | "files" | "failed">,
    files: [string, number][],
    ms: number,
    failed: string[],
  ): void;
};

function runLane(
  lane: Lane,
  resultsFile: string,
  live: boolean,
): { done: Promise<string>; kill: () => void } {
  const args = [
    MOCHA,
    "--no-config",
    "--timeout",
    "120000",
    "--exit",
    "--reporter",
    REPORTER,
    "--reporter-option",
    `results=${resultsFile}`,
    ...lane.specs,
  ];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", live ? "inherit" : "pipe", live ? "inherit" : "pipe"],
  });
  let kept = "";
  child.stdout?.on("data", (d: Buffer) => (kept += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (kept += d.toString()));
  const done = new Promise<string>((resolve) => child.on("close", () => resolve(kept)));
  return { done, kill: () => child.kill("SIGINT") };
}

function readResults(file: string): LaneResults | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LaneResults;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-suite-"));
  const started = Date.now();
  const running = LANES.map((lane, i) => {
    const file = join(dir, `${lane.name}.json`);
    return { lane, file, ...runLane(lane, file, i === 0) };
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => running.forEach((r) => r.kill()));
  const outputs = await Promise.all(running.map((r) => r.done));
  let failed = false;
  const total = { passes: 0, failures: 0, pending: 0 };
  const files: [string, number][] = [];
  const failures: string[] = [];
  running.forEach((r, i) => {
    if (i > 0)
      process.stdout.write(`\n── ${r.lane.name} lane (ran beside the kernel lane) ──\n${outputs[i]}`);
    const res = readResults(r.file);
    if (res === undefined) {
      process.stdout.write(`\nthe ${r.lane.name} lane ended without results (it crashed)\n`);
      failed = true;
      return;
    }
    total.passes += res.passes;
    total.failures += res.failures;
    total.pending += res.pending;
    files.push(...res.files);
    failures.push(...res.failed);
  });
  rmSync(dir, { recursive: true, force: true });
  printSummary(total, files, Date.now() - started, failures);
  if (failed || total.failures > 0) process.exitCode = 1;
}

await main();

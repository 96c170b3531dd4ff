/**
 * VM lab benchmark (`node dist/bench/lab.js --vm`): for each VM node of a lab brought up
 * with `lab up --vm … --no-init`, the time from its qemu starting to its guest daemon
 * answering (boot) and to its agent's control socket existing (agent ready); then the
 * memory each VM costs (qemu's RSS on the host, what the guest itself uses) and how much
 * slower Node runs inside (a process start, `node -e 0`, and a hot loop), against the
 * same on the host. One JSON line. All of it is software emulation (TCG, no KVM):
 * absolute times say what this machine does, not what a real VM would.
 */
import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { labDir } from "../deploy/lab/state.js";
import { controlSocket, GUEST_STATE_DIR } from "../deploy/lab/vm-nodes.js";
import { GuestClient } from "../deploy/vm/guest-client.js";

const HOT_LOOP =
  "let x=0;const t=process.hrtime.bigint();for(let i=0;i<5e7;i++)x+=i%7;console.log(Number(process.hrtime.bigint()-t)/1e6)";
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
}

interface StateFile {
  processes: { node: string; kind: string; pid: number }[];
}

function qemuPids(lab: string): Map<string, number> {
  const file = join(labDir(lab), "state.json");
  if (!existsSync(file)) return new Map();
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as StateFile;
    return new Map(s.processes.filter((p) => p.kind === "qemu").map((p) => [p.node, p.pid]));
  } catch {
    return new Map();
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

/** Wall ms of `node -e 0` and the hot loop's own ms, run by `run`. */
async function nodeCost(
  run: (argv: string[]) => Promise<string>,
): Promise<{ startMs: number; hotMs: number }> {
  const t0 = performance.now();
  await run([process.execPath, "-e", "0"]);
  const startMs = performance.now() - t0;
  const hotMs = Number((await run([process.execPath, "-e", HOT_LOOP])).trim());
  return { startMs, hotMs };
}

export async function benchVmLab(vms: number): Promise<Record<string, unknown>> {
  const lab = `b${randomBytes(3).toString("hex")}`;
  const names = Array.from({ length: vms }, (_, i) => `n${i + 2}`);
  const up = execa(
    process.execPath,
    [CLI_MAIN, "lab", "up", "--name", lab, "--nodes", String(vms + 1), "--vm", names.join(","), "--no-init"],
    { reject: false, env: { SWARMNET_LOG_LEVEL: "warn" } },
  );
  try {
    const started = new Map<string, number>();
    const booted = new Map<string, number>();
    const ready = new Map<string, number>();
    let done = false;
    void up.finally(() => (done = true));
    while (ready.size < vms && !done) {
      for (const [node, pid] of qemuPids(lab))
        if (!started.has(node) && pid > 0) started.set(node, performance.now());
      for (const node of started.keys()) {
        const c = new GuestClient(controlSocket(lab, node));
        if (!booted.has(node) && (await c.ready())) booted.set(node, performance.now());
        if (booted.has(node) && !ready.has(node)) {
          const r = await c
            .request({ op: "exists", path: join(GUEST_STATE_DIR, "agent.sock") })
            .catch(() => undefined);
          if (r?.exists === true) ready.set(node, performance.now());
        }
      }
      await sleep(POLL_MS);
    }
    const result = await up;
    if (result.exitCode !== 0) throw new Error(`lab up --vm failed: ${String(result.stderr)}`);
    const since = (m: Map<string, number>) => names.map((n) => (m.get(n) ?? 0) - (started.get(n) ?? 0));
    const first = names[0] ?? "n2";
    const guest = new GuestClient(controlSocket(lab, first));
    const inGuest = async (argv: string[]) => {
      const r = await guest.run(argv);
      if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} in the VM: ${r.stderr}`);
      return r.stdout;
    };
    const onHost = async (argv: string[]) => String((await execa(argv[0] ?? "", argv.slice(1))).stdout);
    // Warm both once (page cache, 9p cache), then measure.
    await nodeCost(inGuest);
    await nodeCost(onHost);
    const vm = await nodeCost(inGuest);
    const host = await nodeCost(onHost);
    const meminfo = await inGuest(["cat", "/proc/meminfo"]);
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(meminfo)?.[1] ?? 0);
    const boot = since(booted);
    const agent = since(ready);
    return {
      vms,
      emulation: "qemu TCG (no KVM)",
      boot_ms: { p50: Math.round(percentile(boot, 50)), p99: Math.round(percentile(boot, 99)) },
      boot_to_agent_ready_ms: {
        p50: Math.round(percentile(agent, 50)),
        p99: Math.round(percentile(agent, 99)),
      },
      qemu_rss_mb: names.map((n) => rssMb(qemuPids(lab).get(n) ?? 0)),
      guest_used_mb: Math.round((kb("MemTotal") - kb("MemAvailable")) / 1024),
      node_start_ms: { host: Math.round(host.startMs), vm: Math.round(vm.startMs) },
      node_hot_loop_ms: { host: Math.round(host.hotMs), vm: Math.round(vm.hotMs) },
      node_slowdown: {
        start: Number((vm.startMs / host.startMs).toFixed(1)),
        hot: Number((vm.hotMs / host.hotMs).toFixed(1)),
      },
    };
  } finally {
    await execa(process.execPath, [CLI_MAIN, "lab", "down", "--name", lab], { reject: false });
  }
}

/**
 * The gossip benchmark: N members on the simulated network (agent/gossip SimNetwork, a
 * virtual clock), `simSeconds` of virtual time, and what a user of the cluster would feel:
 *
 *   broadcast_converge_ms  every `updateEveryMs` a random live member publishes new
 *                          metadata (a new incarnation); the time until every other live
 *                          member has it
 *   detect_first_ms / detect_all_ms
 *                          every `crashEveryMs` (spread out so at most 5 % of the cluster
 *                          dies in a run) a random member is crashed (kill -9: no leave);
 *                          the time until the first / every live member marks it dead
 *   false_positive_deaths  "dead" verdicts about members that were never crashed
 *                          (counted per (observer, member, incarnation))
 *   bytes_per_node_per_s   gossip payload bytes sent (UDP packets and TCP push-pull /
 *                          fallback streams; no IP/UDP/TCP headers) per member per second
 *
 * The cluster starts converged (every member knows every other, alive at incarnation 1):
 * joining thousands through one seed is a different experiment, and its O(N²) start-up
 * storm would swamp the steady state this measures. Links: `loss` on every datagram
 * (and one TCP retransmission timeout per lost stream segment), 1 ms ± 0.5 ms latency.
 * Encryption is off unless `encrypt` (AES-256-GCM per packet costs CPU in the simulator,
 * not bytes that matter: +28 bytes a packet).
 */
import { totalmem } from "node:os";
import { Worker } from "node:worker_threads";
import { loadGossipConfig, type GossipProfile } from "../agent/gossip/config.js";
import type { Member } from "../agent/gossip/member-table.js";
import { seededRandom } from "../agent/gossip/random.js";
import { SimCluster, type SimMember } from "../agent/gossip/sim-cluster.js";

export interface GossipBenchOptions {
  nodes: number;
  loss: number;
  simSeconds: number;
  profile: GossipProfile;
  seed: number;
  encrypt: boolean;
  /** Virtual ms between metadata updates (broadcast convergence samples). */
  updateEveryMs: number;
  /** Virtual ms between crashes (detection samples). */
  crashEveryMs: number;
}

export const GOSSIP_BENCH_DEFAULTS: GossipBenchOptions = {
  nodes: 1000,
  loss: 0,
  simSeconds: 300,
  profile: "lan",
  seed: 1,
  encrypt: false,
  updateEveryMs: 2000,
  crashEveryMs: 10_000,
};

export interface Percentiles {
  p50: number | null;
  p99: number | null;
  max?: number | null;
}

export interface GossipBenchResult {
  nodes: number;
  loss: number;
  profile: GossipProfile;
  sim_seconds: number;
  wall_ms: number;
  /** CPU time of the run (user + system), steadier than wall time on a shared machine. */
  cpu_ms: number;
  broadcast_converge_ms: { p50: number | null; p99: number | null; max: number | null };
  detect_first_ms: { p50: number | null; p99: number | null };
  detect_all_ms: { p50: number | null; p99: number | null; max: number | null };
  false_positive_deaths: number;
  bytes_per_node_per_s: number;
  encrypted: boolean;
  seed: number;
  setup_wall_ms: number;
  broadcasts: number;
  broadcasts_unconverged: number;
  crashes: number;
  detections_incomplete: number;
  note: string;
}

interface PendingUpdate {
  origin: string;
  incarnation: number;
  startMs: number;
  seen: Set<string>;
  need: number;
}

interface PendingCrash {
  name: string;
  startMs: number;
  firstMs: number | undefined;
  seen: Set<string>;
  need: number;
  done: boolean;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  const v = sorted[Math.min(sorted.length, rank) - 1];
  return v === undefined ? null : Math.round(v);
}

const MAX_CRASHED_FRACTION = 0.05;

const KEY_FOR_BENCH = Buffer.alloc(32, 7).toString("base64");

export function runGossipBench(opts: GossipBenchOptions): GossipBenchResult {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const config: Record<string, unknown> = { profile: opts.profile };
  if (opts.encrypt) config["encryptionKeys"] = [KEY_FOR_BENCH];
  loadGossipConfig({ ...config, nodeName: "check" }); // fail fast on a bad profile
  const cluster = new SimCluster({
    seed: opts.seed,
    link: { loss: opts.loss, latencyMs: 1, jitterMs: 0.5 },
    config,
  });
  const members = cluster.addConverged(opts.nodes);
  const setupWallMs = performance.now() - wallStart;
  const clock = cluster.sim.clock;
  const random = seededRandom(opts.seed ^ 0x9e3779b9);

  const up = new Set(members.map((m) => m.name));
  const byName = new Map(members.map((m) => [m.name, m]));
  const updates = new Map<string, PendingUpdate>();
  const crashes = new Map<string, PendingCrash>();
  const converge: number[] = [];
  const detectFirst: number[] = [];
  const detectAll: number[] = [];
  const falseDeaths = new Set<string>();
  let broadcasts = 0;

  for (const m of members) {
    const observer = m.name;
    m.memberlist.on("update", (subject: Member) => {
      const u = updates.get(subject.name);
      if (u === undefined || subject.incarnation < u.incarnation || u.seen.has(observer)) return;
      u.seen.add(observer);
      if (u.seen.size >= u.need) {
        converge.push(clock.now() - u.startMs);
        updates.delete(subject.name);
      }
    });
    m.memberlist.on("dead", (subject: Member) => {
      const c = crashes.get(subject.name);
      if (c === undefined) {
        falseDeaths.add(`${observer}/${subject.name}/${subject.incarnation}`);
        return;
      }
      if (c.done || c.seen.has(observer)) return;
      c.seen.add(observer);
      if (c.firstMs === undefined) {
        c.firstMs = clock.now() - c.startMs;
        detectFirst.push(c.firstMs);
      }
      if (c.seen.size >= c.need) {
        c.done = true;
        detectAll.push(clock.now() - c.startMs);
      }
    });
  }

  const pickUp = (exclude: (m: SimMember) => boolean): SimMember | undefined => {
    const names = [...up];
    for (let tries = 0; tries < 100; tries++) {
      const m = byName.get(names[Math.floor(random.next() * names.length)] ?? "");
      if (m !== undefined && !exclude(m)) return m;
    }
    return undefined;
  };

  const endMs = opts.simSeconds * 1000;
  const warmupMs = Math.min(5000, endMs / 10);
  // Leave the last stretch for the last samples to complete.
  const lastSampleMs = endMs - Math.min(30_000, endMs / 3);
  let nextUpdate = warmupMs;
  let nextCrash = warmupMs + opts.crashEveryMs / 2;
  // Crash at most 5 % of the cluster over the run: killing a quarter of 100 members is a
  // different experiment (and their dead entries soak up gossip the live ones need).
  const maxCrashes = Math.max(1, Math.floor(opts.nodes * MAX_CRASHED_FRACTION));
  const crashEveryMs = Math.max(opts.crashEveryMs, (lastSampleMs - nextCrash) / maxCrashes);
  const stepMs = 100;
  let counter = 0;
  while (clock.now() < endMs) {
    const now = clock.now();
    if (now >= nextUpdate && now < lastSampleMs) {
      nextUpdate += opts.updateEveryMs;
      const m = pickUp((x) => updates.has(x.name) || crashes.has(x.name));
      if (m !== undefined) {
        const meta = Buffer.alloc(8);
        meta.writeUInt32BE(++counter, 4);
        m.memberlist.setMeta(meta);
        updates.set(m.name, {
          origin: m.name,
          incarnation: m.memberlist.localMember.incarnation,
          startMs: now,
          seen: new Set(),
          need: up.size - 1,
        });
        broadcasts++;
      }
    }
    if (now >= nextCrash && now < lastSampleMs && opts.crashEveryMs > 0) {
      nextCrash += crashEveryMs;
      const m = pickUp((x) => updates.has(x.name));
      if (m !== undefined) {
        cluster.crash(m.name);
        up.delete(m.name);
        for (const c of crashes.values()) if (!c.done && !c.seen.has(m.name)) c.need--;
        for (const u of updates.values()) if (!u.seen.has(m.name)) u.need--;
        crashes.set(m.name, {
          name: m.name,
          startMs: now,
          firstMs: undefined,
          seen: new Set(),
          need: up.size,
          done: false,
        });
      }
    }
    cluster.run(stepMs);
  }

  const sort = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  const conv = sort(converge);
  const first = sort(detectFirst);
  const all = sort(detectAll);
  const totalBytes = cluster.sim.stats.bytesSent;
  const cpu = process.cpuUsage(cpuStart);
  return {
    nodes: opts.nodes,
    loss: opts.loss,
    profile: opts.profile,
    sim_seconds: opts.simSeconds,
    wall_ms: Math.round(performance.now() - wallStart),
    cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    broadcast_converge_ms: {
      p50: percentile(conv, 50),
      p99: percentile(conv, 99),
      max: percentile(conv, 100),
    },
    detect_first_ms: { p50: percentile(first, 50), p99: percentile(first, 99) },
    detect_all_ms: { p50: percentile(all, 50), p99: percentile(all, 99), max: percentile(all, 100) },
    false_positive_deaths: falseDeaths.size,
    bytes_per_node_per_s: Math.round(totalBytes / opts.nodes / opts.simSeconds),
    encrypted: opts.encrypt,
    seed: opts.seed,
    setup_wall_ms: Math.round(setupWallMs),
    broadcasts,
    broadcasts_unconverged: updates.size,
    crashes: crashes.size,
    detections_incomplete: [...crashes.values()].filter((c) => !c.done).length,
    note:
      "simulated network (virtual clock), converged start, 1 ms ± 0.5 ms links; bytes are gossip payload " +
      "(UDP + TCP push-pull), no IP headers; encryption " +
      (opts.encrypt ? "on (AES-256-GCM)" : "off"),
  };
}

/**
 * Heap for a run: each simulated member's view costs ~150 bytes per known member
 * (N² in all), plus room for packets in flight; capped at three quarters of the machine.
 */
export function heapMbFor(nodes: number): number {
  const want = Math.ceil((nodes * nodes * 200) / 1e6) + 768;
  return Math.min(want, Math.floor((totalmem() / 1e6) * 0.75));
}

/** Runs the benchmark in a worker thread with a heap sized for `opts.nodes`. */
export function runGossipBenchIsolated(opts: GossipBenchOptions): Promise<GossipBenchResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./gossip-worker.js", import.meta.url), {
      workerData: opts,
      resourceLimits: { maxOldGenerationSizeMb: heapMbFor(opts.nodes), maxYoungGenerationSizeMb: 64 },
    });
    let result: GossipBenchResult | undefined;
    worker.once("message", (r: GossipBenchResult) => (result = r));
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`gossip benchmark worker exited with code ${code} before reporting`));
    });
  });
}

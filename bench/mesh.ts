/**
 * Routing-mesh benchmark on the real kernel, in scratch namespaces `snb-<6 hex>-<role>`
 * (removed at the end, also on failure):
 *
 *   client 10.201.0.2 ── node 10.201.0.1 | 10.202.0.1 ── backend 10.202.0.2, .10 … .(10+B-1)
 *                         (the mesh's table)                (swarmnet whoami on :80)
 *
 * S services are published on the node (ports 20000…), each with B backends. One of
 * them (in the middle) has its B backends on the backend namespace, so connections through
 * it are real; the others point at addresses that do not exist (they only cost elements).
 *
 * Measured: the full apply (first `Mesh.apply`, and a `resync` replacing a full table),
 * one-backend changes (nft transaction alone and the whole `apply`, which includes the
 * O(S) fingerprint walk; the conntrack cleanup of the removed backend runs right after
 * the call returns, timed apart as `changeConntrackMs`), the table's
 * size, and the first-packet latency of new TCP connections through the mesh (SYN →
 * SYN/ACK, which is when the verdict map and the backend map are looked up) against the
 * same connect straight to a backend.
 *
 * `backend: "ipvs"` runs it on the IPVS mesh (ipvs-mesh.ts; the kernel must have ip_vs,
 * the VM lab's does), then the same on nftables in the same place, and reports the IPVS
 * numbers with their ratios to nftables (`ratiosToNftables`, IPVS ÷ nftables): under
 * emulation the absolute times are not comparable to the host's, the ratios are. For
 * IPVS, `changeApplyNftMs` is the nft time of a change (none: a backend is an `ipvsadm`
 * line) and `changeConntrackMs` stays empty (IPVS drops a removed backend's flows itself).
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Executor } from "../common/executor.js";
import { isAlive } from "../common/process.js";
import {
  Mesh,
  chooseMeshBackend,
  createMesh,
  type IngressPublication,
  type MeshBackendKind,
  type MeshState,
} from "../agent/ingress/index.js";
import { probeKernel } from "../agent/probe.js";
import { CLI_MAIN } from "../deploy/lab/lab.js";

export interface MeshBenchOptions {
  services: number;
  backends: number;
  /** One-backend changes measured. */
  changes: number;
  /** Sequential TCP connects per latency measurement. */
  connects: number;
  /** What balances: nftables, or IPVS (measured against nftables in the same run). */
  backend: MeshBackendKind;
}

export const MESH_BENCH_DEFAULTS: MeshBenchOptions = {
  services: 1000,
  backends: 10,
  changes: 30,
  connects: 300,
  backend: "nftables",
};

/** First published port; S services use FIRST_PORT … FIRST_PORT + S - 1. */
const FIRST_PORT = 20_000;
export const MAX_SERVICES = 65_535 - FIRST_PORT;

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

export interface MeshBenchResult {
  benchmark: "mesh";
  backend: MeshBackendKind;
  services: number;
  backends: number;
  fullApplyMs: number;
  fullApplyNftMs: number;
  resyncMs: number;
  changeApplyNftMs: Percentiles;
  changeApplyTotalMs: Percentiles;
  /** From a change's return until its removed backend's flows were deleted (`conntrack -D`). */
  changeConntrackMs: Percentiles;
  changeElementOps: number;
  rules: number;
  chains: number;
  sets: number;
  elements: number;
  fullScriptBytes: number;
  connectLatencyUs: Percentiles;
  directConnectLatencyUs: Percentiles;
  connectFailures: number;
  /** `backend: "ipvs"` only: IPVS ÷ nftables for the same options on the same kernel. */
  ratiosToNftables?: {
    fullApply: number;
    resync: number;
    changeApplyTotalP50: number;
    changeApplyTotalP99: number;
    connectLatencyP50: number;
  };
}

const PROBE = fileURLToPath(new URL("./mesh-connect-probe.js", import.meta.url));

function fakeIp(k: number): string {
  return `10.${64 + (k >>> 16)}.${(k >>> 8) & 255}.${k & 255}`;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  const round = (v: number) => Math.round(v * 100) / 100;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1] ?? 0) };
}

class BenchTopology {
  readonly id = randomBytes(3).toString("hex");
  private whoami: number | undefined;

  constructor(private readonly ex: Executor) {}

  ns(role: "node" | "client" | "back"): string {
    return `snb-${this.id}-${role}`;
  }

  private get log(): string {
    return join(tmpdir(), `snb-${this.id}-whoami.log`);
  }

  async up(backends: number): Promise<void> {
    const [node, client, back] = [this.ns("node"), this.ns("client"), this.ns("back")];
    for (const ns of [node, client, back]) await this.ex.netnsAdd(ns);
    await this.ex.ipBatch(
      [
        "link set lo up",
        `link add c0 type veth peer name eth0 netns ${client}`,
        `link add b0 type veth peer name eth0 netns ${back}`,
        "addr add 10.201.0.1/24 dev c0",
        "addr add 10.202.0.1/24 dev b0",
        "link set c0 up",
        "link set b0 up",
      ],
      { netns: node },
    );
    await this.ex.ipBatch(
      [
        "link set lo up",
        "addr add 10.201.0.2/24 dev eth0",
        "link set eth0 up",
        "route add default via 10.201.0.1",
      ],
      { netns: client },
    );
    await this.ex.ipBatch(
      [
        "link set lo up",
        "addr add 10.202.0.2/24 dev eth0",
        ...Array.from({ length: backends }, (_, i) => `addr add ${this.backendIp(i)}/24 dev eth0`),
        "link set eth0 up",
        "route add default via 10.202.0.1",
      ],
      { netns: back },
    );
    this.whoami = this.ex.startDetached([process.execPath, CLI_MAIN, "whoami", "--port", "80"], {
      netns: back,
      logFile: this.log,
      env: { SWARMNET_TASK_NAME: "bench", SWARMNET_LOG_LEVEL: "warn" },
    }).pid;
    for (let i = 0; ; i++) {
      const r = await this.ex.runIn(node, ["curl", "-s", "--max-time", "2", "http://10.202.0.2/"]);
      if (r.exitCode === 0) break;
      if (i >= 100) throw new Error("bench backend (swarmnet whoami) never answered");
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Backend i of the measured service (B ≤ 240 fits the /24). */
  backendIp(i: number): string {
    return `10.202.0.${10 + i}`;
  }

  /** Sequential TCP connects from the client namespace; latencies in µs. */
  async connects(host: string, port: number, n: number): Promise<{ samplesUs: number[]; failures: number }> {
    const r = await this.ex.runIn(
      this.ns("client"),
      [process.execPath, PROBE, host, String(port), String(n)],
      {
        timeoutMs: 120_000,
      },
    );
    if (r.exitCode !== 0) throw new Error(`connect probe failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as { samplesUs: number[]; failures: number };
  }

  async down(): Promise<void> {
    if (this.whoami !== undefined && isAlive(this.whoami)) process.kill(this.whoami, "SIGTERM");
    for (const role of ["client", "back", "node"] as const) {
      const ns = this.ns(role);
      for (const pid of await this.ex.netnsPids(ns)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await this.ex.netnsDelete(ns);
    }
    rmSync(this.log, { force: true });
  }
}

function meshState(o: MeshBenchOptions, topo: BenchTopology): { state: MeshState; measured: number } {
  const measured = Math.floor(o.services / 2);
  const ingress: IngressPublication[] = Array.from({ length: o.services }, (_, s) => ({
    serviceId: `svc${s}`,
    protocol: "tcp",
    publishedPort: FIRST_PORT + s,
    targetPort: 80,
    backends:
      s === measured
        ? Array.from({ length: o.backends }, (_, b) => topo.backendIp(b))
        : Array.from({ length: o.backends }, (_, b) => fakeIp(s * o.backends + b)),
  }));
  return { state: { ingress, ingressSource: "10.202.0.1" }, measured };
}

export async function runMeshBench(o: MeshBenchOptions, ex: Executor): Promise<MeshBenchResult> {
  if (o.backend === "nftables") return runOne(o, ex);
  chooseMeshBackend(await probeKernel(ex), "ipvs"); // no ip_vs: one clear error, nothing built
  const ipvs = await runOne(o, ex);
  const nft = await runOne({ ...o, backend: "nftables" }, ex);
  const ratio = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 100) / 100);
  return {
    ...ipvs,
    ratiosToNftables: {
      fullApply: ratio(ipvs.fullApplyMs, nft.fullApplyMs),
      resync: ratio(ipvs.resyncMs, nft.resyncMs),
      changeApplyTotalP50: ratio(ipvs.changeApplyTotalMs.p50, nft.changeApplyTotalMs.p50),
      changeApplyTotalP99: ratio(ipvs.changeApplyTotalMs.p99, nft.changeApplyTotalMs.p99),
      connectLatencyP50: ratio(ipvs.connectLatencyUs.p50, nft.connectLatencyUs.p50),
    },
  };
}

async function runOne(o: MeshBenchOptions, ex: Executor): Promise<MeshBenchResult> {
  const topo = new BenchTopology(ex);
  try {
    await topo.up(o.backends);
    const mesh = createMesh(o.backend, ex, { netns: topo.ns("node"), session: true });
    const { state, measured } = meshState(o, topo);
    const full = await mesh.apply(state);
    const resync = await mesh.resync();

    // One-backend changes: each replaces one backend of some other service by a new one.
    const nft: number[] = [];
    const total: number[] = [];
    const conntrack: number[] = [];
    let ops = 0;
    let current = state;
    for (let i = 0; i < o.changes; i++) {
      const s = (measured + 1 + ((i * 7919) % Math.max(1, o.services - 1))) % o.services;
      if (s === measured) continue;
      const ingress = [...(current.ingress ?? [])];
      const pub = ingress[s];
      if (pub === undefined) continue;
      ingress[s] = { ...pub, backends: [fakeIp(o.services * o.backends + i), ...pub.backends.slice(1)] };
      current = { ...current, ingress };
      const stats = await mesh.apply(current);
      const returned = performance.now();
      if (mesh instanceof Mesh) {
        await mesh.forgetFlows();
        conntrack.push(performance.now() - returned);
      }
      nft.push(stats.nftMs);
      total.push(stats.totalMs);
      ops = Math.max(ops, stats.elementsAdded + stats.elementsDeleted);
    }

    const port = FIRST_PORT + measured;
    const through = await topo.connects("10.201.0.1", port, o.connects);
    const direct = await topo.connects(topo.backendIp(0), 80, o.connects);
    await mesh.flush();
    mesh.stop();
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      benchmark: "mesh",
      backend: o.backend,
      services: o.services,
      backends: o.backends,
      fullApplyMs: round(full.totalMs),
      fullApplyNftMs: round(full.nftMs),
      resyncMs: round(resync.totalMs),
      changeApplyNftMs: percentiles(nft),
      changeApplyTotalMs: percentiles(total),
      changeConntrackMs: percentiles(conntrack),
      changeElementOps: ops,
      rules: full.size.rules,
      chains: full.size.chains,
      sets: full.size.sets,
      elements: full.size.elements,
      fullScriptBytes: full.scriptBytes,
      connectLatencyUs: percentiles(through.samplesUs),
      directConnectLatencyUs: percentiles(direct.samplesUs),
      connectFailures: through.failures + direct.failures,
    };
  } finally {
    await topo.down();
  }
}

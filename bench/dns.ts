/**
 * `swarmnet bench dns`: the embedded DNS in a lab, measured from inside containers.
 *
 *   latency_ms          per kind of name (a container name, an alias, a service, tasks.,
 *                       an external name through the stand-in upstream), p50/p99 of
 *                       sequential queries from one container to 127.0.0.11
 *   queries_per_s       one container, up to 64 queries in flight, for a few seconds
 *   convergence_ms      `run` returning on n1 until the new name resolves in a container
 *                       on every other node (each polls every 10 ms), p50/p99 over runs;
 *                       0 when it resolved everywhere before `run` returned (the facts
 *                       are gossiped while `run` is still starting the process);
 *                       `from_run_start` counts from the moment `run` was issued
 *   memory              what DNS adds per container: the agent's two sockets (measured in
 *                       this process: RSS after GC with `containers` UDP+TCP pairs open),
 *                       the resolv.conf file, processes in the container's namespace
 *                       beyond its own (none); and the whole agent's RSS before and after
 *                       `containers` more containers on one node (every part of the agent,
 *                       not DNS alone)
 *
 * The query programs run inside containers as small Node programs (`-e`), encoding
 * queries by hand, so each measurement is one process start, not one per query.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { createServer, type Server } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { Executor } from "../common/executor.js";
import { stopProcesses } from "../common/process.js";
import { startDnsStandIn } from "../deploy/lab/dns-stand-in.js";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { labDir, type LabState } from "../deploy/lab/state.js";

export interface DnsBenchOptions {
  nodes: number;
  runs: number;
  containers: number;
  queries: number;
}

export const DNS_BENCH_DEFAULTS: DnsBenchOptions = { nodes: 5, runs: 20, containers: 200, queries: 500 };

interface Percentiles {
  p50: number;
  p99: number;
}

export interface DnsBenchResult {
  nodes: number;
  latency_ms: Record<"name" | "alias" | "service" | "tasks" | "external", Percentiles>;
  queries_per_s: number;
  convergence_ms: Percentiles & { runs: number; from_run_start: Percentiles };
  memory: {
    containers: number;
    dns_sockets_kb_per_container: number;
    resolv_conf_bytes: number;
    dns_processes_per_container: number;
    agent_rss_mb_before: number;
    agent_rss_mb_after: number;
    agent_rss_kb_per_container: number;
  };
}

/** Hand-encoded A query and a reader of the rcode and answer count (shared by the programs). */
const DNS_HELPERS = String.raw`
const dgram = require("node:dgram");
function q(id, name) {
  const labels = name.split(".").flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const h = Buffer.alloc(12); h.writeUInt16BE(id, 0); h.writeUInt16BE(0x0100, 2); h.writeUInt16BE(1, 4);
  return Buffer.concat([h, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}
const rcode = (m) => m[3] & 15;
const ancount = (m) => m.readUInt16BE(6);
`;

/** argv: count name…; prints {name: [ms…]} of sequential queries. */
const LATENCY_PROGRAM =
  DNS_HELPERS +
  String.raw`
const [count, ...names] = process.argv.slice(1);
const s = dgram.createSocket("udp4");
let waiting;
s.on("message", (m) => waiting && waiting(m));
const ask = (id, name) => new Promise((resolve) => {
  const t = setTimeout(() => resolve(undefined), 3000);
  waiting = (m) => { if (m.readUInt16BE(0) === id) { clearTimeout(t); resolve(m); } };
  s.send(q(id, name), 53, "127.0.0.11");
});
(async () => {
  const out = {};
  let id = 1;
  for (const name of names) {
    out[name] = [];
    for (let i = 0; i < Number(count); i++) {
      const t0 = process.hrtime.bigint();
      const m = await ask(id++ & 0xffff, name);
      if (m && rcode(m) === 0 && ancount(m) > 0) out[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  s.close();
  process.stdout.write(JSON.stringify(out));
})();
`;

/** argv: name seconds; prints answered queries per second with 64 in flight. */
const THROUGHPUT_PROGRAM =
  DNS_HELPERS +
  String.raw`
const [name, seconds] = process.argv.slice(1);
const s = dgram.createSocket("udp4");
let answered = 0, id = 0;
const end = Date.now() + Number(seconds) * 1000;
const send = () => { if (Date.now() < end) s.send(q(id++ & 0xffff, name), 53, "127.0.0.11"); };
s.on("message", () => { answered++; send(); });
s.bind(0, () => {
  for (let i = 0; i < 64; i++) send();
  // A lost datagram would shrink the window: top it up.
  const refill = setInterval(() => { for (let i = 0; i < 8; i++) send(); }, 200);
  setTimeout(() => { clearInterval(refill); s.close(); process.stdout.write(String(answered / Number(seconds))); }, Number(seconds) * 1000 + 200);
});
`;

/** argv: name; prints the wall time (ms) when the name first resolves, polling every 10 ms. */
const CONVERGENCE_PROGRAM =
  DNS_HELPERS +
  String.raw`
const [name] = process.argv.slice(1);
const s = dgram.createSocket("udp4");
let id = 0;
s.on("message", (m) => {
  if (rcode(m) === 0 && ancount(m) > 0) { process.stdout.write(String(Date.now())); process.exit(0); }
});
const tick = () => s.send(q(id++ & 0xffff, name), 53, "127.0.0.11");
setInterval(tick, 10);
setTimeout(() => process.exit(1), 60000);
tick();
`;

function pct(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const v = s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return Math.round(v * 100) / 100;
}

const percentiles = (values: readonly number[]): Percentiles => ({
  p50: pct(values, 50),
  p99: pct(values, 99),
});

/** RSS added per UDP socket + TCP server pair held open in this process (after GC), in KB. */
async function socketPairsKb(count: number): Promise<number> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  const before = process.memoryUsage().rss;
  const pairs: { udp: dgram.Socket; tcp: Server }[] = [];
  for (let i = 0; i < count; i++) {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
    udp.on("message", () => undefined);
    tcp.on("connection", (s) => s.destroy());
    pairs.push({ udp, tcp });
  }
  gc();
  const kb = (process.memoryUsage().rss - before) / 1024 / count;
  for (const p of pairs) {
    p.udp.close();
    p.tcp.close();
  }
  return Math.round(kb * 10) / 10;
}

export async function runDnsBench(o: DnsBenchOptions): Promise<DnsBenchResult> {
  const lab = `d${randomBytes(3).toString("hex")}`;
  const ex = new Executor();
  const cli = async (args: string[]): Promise<string> => {
    const r = await execa(process.execPath, [CLI_MAIN, ...args], {
      reject: false,
      env: { SWARMNET_LOG_LEVEL: "warn" },
    });
    if (r.exitCode !== 0) throw new Error(`swarmnet ${args.join(" ")}: ${String(r.stderr)}`);
    return String(r.stdout);
  };
  const sx = (node: string, ...args: string[]) =>
    cli(["lab", "exec", "--name", lab, node, "--", "swarmnet", ...args]);
  const inContainer = (node: string, container: string, program: string, ...args: string[]) =>
    sx(node, "exec", container, "--", process.execPath, "-e", program, ...args);
  const agentPid = (node: string): number => {
    const state = JSON.parse(readFileSync(join(labDir(lab), "state.json"), "utf8")) as LabState;
    return state.processes.find((p) => p.node === node && p.kind === "agent")?.pid ?? 0;
  };
  const rssMb = (pid: number) =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;

  let standIn: number | undefined;
  try {
    await cli(["lab", "up", "--name", lab, "--nodes", String(o.nodes)]);
    standIn = startDnsStandIn(ex, lab);
    await sx("n1", "network", "create", "-d", "overlay", "--attachable", "benchnet");
    await sx(
      "n2",
      "run",
      "-d",
      "--name",
      "target",
      "--network",
      "benchnet",
      "--network-alias",
      "target-alias",
      "--",
      "sleep",
      "3600",
    );
    await sx(
      "n1",
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "benchnet",
      "--",
      "sleep",
      "3600",
    );
    const nodes = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
    for (const n of nodes)
      await sx(n, "run", "-d", "--name", `q-${n}`, "--network", "benchnet", "--", "sleep", "3600");
    // Every name answers before anything is timed.
    const names = ["target", "target-alias", "web", "tasks.web", "www.outside.test"];
    for (let t = 0; ; t++) {
      const r = JSON.parse(await inContainer("n1", "q-n1", LATENCY_PROGRAM, "1", ...names)) as Record<
        string,
        number[]
      >;
      if (names.every((n) => (r[n] ?? []).length === 1)) break;
      if (t > 120) throw new Error(`names never all answered: ${JSON.stringify(r)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    const lat = JSON.parse(
      await inContainer("n1", "q-n1", LATENCY_PROGRAM, String(o.queries), ...names),
    ) as Record<string, number[]>;
    const latency_ms = {
      name: percentiles(lat["target"] ?? []),
      alias: percentiles(lat["target-alias"] ?? []),
      service: percentiles(lat["web"] ?? []),
      tasks: percentiles(lat["tasks.web"] ?? []),
      external: percentiles(lat["www.outside.test"] ?? []),
    };
    const queries_per_s = Math.round(
      Number(await inContainer("n1", "q-n1", THROUGHPUT_PROGRAM, "target", "3")),
    );

    const convergence: number[] = [];
    const fromStart: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const name = `conv${i}`;
      const pollers = nodes.slice(1).map((n) => inContainer(n, `q-${n}`, CONVERGENCE_PROGRAM, name));
      // The pollers are asking before the name exists (their start is not counted).
      await new Promise((r) => setTimeout(r, 1500));
      const started = Date.now();
      await sx("n1", "run", "-d", "--name", name, "--network", "benchnet", "--", "sleep", "3600");
      const returned = Date.now();
      const everywhere = Math.max(...(await Promise.all(pollers)).map(Number));
      convergence.push(Math.max(0, everywhere - returned));
      fromStart.push(everywhere - started);
    }

    const pid = agentPid("n3");
    const before = rssMb(pid);
    for (let i = 0; i < o.containers; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, o.containers - i) }, (_, k) =>
          sx("n3", "run", "-d", "--name", `m${i + k}`, "--network", "benchnet", "--", "sleep", "3600"),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssMb(pid);
    const ps = JSON.parse(await sx("n3", "inspect", "m0")) as { NetworkSettings: { SandboxKey: string } }[];
    const netns = ps[0]?.NetworkSettings.SandboxKey.replace("/run/netns/", "") ?? "";
    // The container's own process (sleep) is the only one in its namespace.
    const dnsProcesses = (await ex.netnsPids(netns)).length - 1;
    const conf = await sx("n3", "exec", "m0", "--", "cat", "/etc/resolv.conf");
    return {
      nodes: o.nodes,
      latency_ms,
      queries_per_s,
      convergence_ms: { ...percentiles(convergence), runs: o.runs, from_run_start: percentiles(fromStart) },
      memory: {
        containers: o.containers,
        dns_sockets_kb_per_container: await socketPairsKb(o.containers),
        resolv_conf_bytes: Buffer.byteLength(conf),
        dns_processes_per_container: dnsProcesses,
        agent_rss_mb_before: Math.round(before * 10) / 10,
        agent_rss_mb_after: Math.round(after * 10) / 10,
        agent_rss_kb_per_container: Math.round(((after - before) * 1024) / o.containers),
      },
    };
  } finally {
    if (standIn !== undefined) await stopProcesses([standIn]);
    await cli(["lab", "down", "--name", lab]).catch(() => undefined);
  }
}

/**
 * `swarmnet bench control --json`: the control plane's speed, against a lab with three
 * managers on a three-member etcd (brought up under a unique name and always taken
 * down). One JSON object; its field names are a contract:
 *
 *   network_create_p50_ms / _p99_ms   latency of one `network create` (gRPC call to a
 *                                     manager → etcd transaction → answer), sequential,
 *                                     spread over the three managers
 *   network_create_per_s              creates per second with `create_concurrency`
 *                                     callers spread over the three managers
 *   fanout_p50_ms / _p99_ms           from sending a create until each of `fanout_agents`
 *                                     dispatcher streams has received the new network
 *                                     (agents × changes samples; includes the create)
 *   ipam_alloc_ms                     allocating `ipam_addresses` addresses in one /16
 *                                     (pure IPAM, in process)
 *
 *   join_p50_ms / _p99_ms             one node joining: token → CA pinned → key + CSR →
 *                                     certificate → its dispatcher stream's first snapshot
 *                                     (`join_samples` synthetic nodes, sequential)
 *
 * The lab has no route from the host, so the measuring runs inside the lab's `client`
 * namespace (`--inside`, internal), which reaches every manager on the underlay, as node
 * n1 (its certificate, `--state-dir`: every call is mutual TLS, as in production); the
 * agents' streams are real `DispatcherClient`s of nodes joined with the real join flow.
 */
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import { parseCidr, parseIpv4 } from "../common/net-addr.js";
import { DispatcherClient } from "../agent/dispatcher/index.js";
import { TlsSource } from "../common/pki/tls.js";
import { joinFlow } from "./join-flow.js";
import { CLI_MAIN, Lab } from "../deploy/lab/lab.js";
import { managerAddresses as labManagerAddresses, labLayout } from "../deploy/lab/layout.js";
import { nodeDir } from "../deploy/lab/state.js";
import { allocateAddress, type AddressSpace } from "../manager/ipam/index.js";
import type { Network__Output } from "../proto/generated/swarmnet/v1/Network.js";
import { ManagerClient, nodeCredentials } from "./manager-client.js";
import { print, printJson } from "./output.js";

export const CONTROL_BENCH_DEFAULTS = {
  managers: 3,
  nodes: 3,
  createSamples: 200,
  createThroughputTotal: 300,
  createConcurrency: 30,
  fanoutAgents: 25,
  fanoutChanges: 30,
  joinSamples: 20,
  ipamAddresses: 10_000,
};

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

const round = (x: number) => Math.round(x * 100) / 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summary(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: round(percentile(s, 50)), p99: round(percentile(s, 99)) };
}

/** Pure IPAM: `count` addresses in a /16, serially, as the managers hand them out. */
export function benchIpam(count: number): number {
  const subnet = parseCidr("10.123.0.0/16");
  const gateway = parseIpv4("10.123.0.1");
  if (subnet === undefined || gateway === undefined) throw new Error("bad constant");
  const space: AddressSpace = { subnet, gateway, reserved: [] };
  const used = new Set<number>();
  let cursor = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const a = allocateAddress(space, (x) => used.has(x), cursor);
    used.add(a);
    cursor = a + 1;
  }
  return round(performance.now() - t0);
}

/** The measurements, against running managers (inside the lab). */
async function measure(managers: string[], stateDir: string): Promise<Record<string, number>> {
  const d = CONTROL_BENCH_DEFAULTS;
  const creds = nodeCredentials(stateDir);
  const per = managers.map((m) => new ManagerClient([m], creds));
  const any = new ManagerClient(managers, creds);
  const agents: DispatcherClient[] = [];
  const tag = randomBytes(2).toString("hex");
  const create = (c: ManagerClient, name: string) =>
    c.call<Network__Output>((x, o, cb) => x.networks.Create({ name, driver: "overlay" }, o, cb));
  try {
    // 1. Sequential create latency, round-robin over the managers.
    const latencies: number[] = [];
    for (let i = 0; i < d.createSamples; i++) {
      const t0 = performance.now();
      await create(per[i % per.length] as ManagerClient, `lat-${tag}-${i}`);
      latencies.push(performance.now() - t0);
    }
    // 2. Throughput with concurrent callers.
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: d.createConcurrency }, async (_, w) => {
        for (let i = next++; i < d.createThroughputTotal; i = next++) {
          await create(per[w % per.length] as ManagerClient, `tp-${tag}-${i}`);
        }
      }),
    );
    const perSecond = d.createThroughputTotal / ((performance.now() - t0) / 1000);

    // 3. Fan-out to agents' streams.
    const token = (
      await any.call<{ token: string }>((x, o, cb) => x.cluster.JoinToken({ role: "worker" }, o, cb))
    ).token;
    const joinAgent = async (name: string, i: number): Promise<DispatcherClient> => {
      const rotated = [...managers.slice(i % managers.length), ...managers.slice(0, i % managers.length)];
      const { response, files } = await joinFlow({
        token,
        address: rotated[0] as string,
        hostname: name,
        advertiseAddr: "100.64.0.100",
        underlayAddrs: [],
      });
      const client = new DispatcherClient({
        managers: rotated,
        tls: new TlsSource({
          trustPem: files.trustPem,
          identity: { keyPem: files.keyPem, chainPem: files.chainPem },
        }),
        clusterId: response.clusterId,
        hostname: name,
        advertiseAddr: "100.64.0.100",
        underlayAddrs: [],
        capabilities: undefined,
      });
      client.start();
      return client;
    };
    // 3a. Join time: token → certificate → first stream snapshot, one node at a time.
    const joins: number[] = [];
    for (let i = 0; i < d.joinSamples; i++) {
      const t = performance.now();
      const client = await joinAgent(`join-${tag}-${i}`, i);
      agents.push(client);
      await client.whenReady();
      joins.push(performance.now() - t);
    }
    for (let i = 0; i < d.fanoutAgents; i++) agents.push(await joinAgent(`bench-${tag}-${i}`, i));
    await Promise.all(agents.map((a) => a.whenReady()));
    const fanout: number[] = [];
    for (let c = 0; c < d.fanoutChanges; c++) {
      const name = `fan-${tag}-${c}`;
      const seen = agents.map(
        (a) =>
          new Promise<number>((resolve) => {
            const on = (e: { kind: string; network?: { name: string } }) => {
              if (e.kind === "networkUpsert" && e.network?.name === name) {
                a.off("change", on);
                resolve(performance.now());
              }
            };
            a.on("change", on);
          }),
      );
      const sent = performance.now();
      await create(per[c % per.length] as ManagerClient, name);
      for (const at of await Promise.all(seen)) fanout.push(at - sent);
      await sleep(20);
    }

    const create50 = summary(latencies);
    const fan = summary(fanout);
    const join = summary(joins);
    return {
      network_create_p50_ms: create50.p50,
      network_create_p99_ms: create50.p99,
      network_create_samples: d.createSamples,
      network_create_per_s: round(perSecond),
      create_concurrency: d.createConcurrency,
      fanout_p50_ms: fan.p50,
      fanout_p99_ms: fan.p99,
      fanout_agents: d.fanoutAgents,
      fanout_changes: d.fanoutChanges,
      join_p50_ms: join.p50,
      join_p99_ms: join.p99,
      join_samples: d.joinSamples,
      ipam_addresses: d.ipamAddresses,
      ipam_alloc_ms: benchIpam(d.ipamAddresses),
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    for (const c of [...per, any]) c.close();
  }
}

export function register(bench: Command): void {
  bench
    .command("control")
    .description("control plane: network create latency/throughput, change fan-out to 25 agents, IPAM speed")
    .option("--json", "print JSON (the default and only format)")
    .option("--inside <managers>", "internal: measure against these managers (run inside the lab)")
    .option("--state-dir <dir>", "internal, with --inside: the node whose certificate the bench uses")
    .action(async (o: { inside?: string; stateDir?: string }) => {
      if (o.inside !== undefined) {
        printJson(await measure(o.inside.split(","), o.stateDir ?? ""));
        return;
      }
      const ex = new Executor();
      const lab = new Lab(ex);
      const name = `bc${randomBytes(3).toString("hex")}`;
      const d = CONTROL_BENCH_DEFAULTS;
      try {
        const t0 = performance.now();
        await lab.up({ name, nodes: d.nodes, managers: d.managers });
        const labUpMs = Math.round(performance.now() - t0);
        const managers = labManagerAddresses(labLayout(name, d.nodes, d.managers));
        const target = lab.execTarget(name, "client");
        const r = await target.host.run(
          [
            process.execPath,
            CLI_MAIN,
            "bench",
            "control",
            "--inside",
            managers.join(","),
            "--state-dir",
            nodeDir(name, "n1"),
          ],
          { ...target.env, SWARMNET_LOG_LEVEL: "warn" },
          600_000,
        );
        if (r.exitCode !== 0) {
          throw new SwarmnetError(
            ErrorCode.Internal,
            `bench inside the lab failed: ${r.stderr.trim().split("\n")[0] ?? ""}`,
          );
        }
        const inner = JSON.parse(r.stdout) as Record<string, number>;
        printJson({
          benchmark: "control",
          managers: d.managers,
          etcd_members: d.managers,
          lab_up_ms: labUpMs,
          ...inner,
        });
        print("");
      } finally {
        await lab.down(name).catch(() => {});
      }
    });
}

/**
 * Issue 16's acceptance: after 1,000 random fast-path changes (services created, scaled,
 * published, unpublished and removed; standalone containers run and removed) the kernel
 * state on every node equals what a full resync computes.
 *
 * Decisions:
 * - A 3-node lab (one manager) whose agents resync only every hour
 *   (`lab up --agent-resync-interval 1h`): a periodic resync in the middle would repair
 *   what the fast path got wrong before anyone looked. The test checks through the agents'
 *   counters (`Reconcilers` on the control socket) that no resync pass ran from the start
 *   of the burst until the first reading, so that reading is the fast path's work alone
 *   (a failed pass is retried as a resync: that fails the test too, naming the error).
 * - The changes come from a seeded plan (test/support/burst-plan.ts; seed from
 *   $SWARMNET_FAST_PATH_SEED, else random, printed at the start and in every failure):
 *   the same seed replays the same sequence. Mostly port changes (publish, unpublish: the
 *   mesh on every node), with container churn a modest share (about 5 % standalone runs
 *   and removals, 7 % scales, creates and removals of services; at most 16 containers
 *   live): each container operation costs its node's agent a few reconcile passes, one at
 *   a time per node, and a larger share made the burst take over ten minutes here (the
 *   plan's header has the numbers). They are issued by one driver process
 *   inside n1 (test/support/burst-driver.ts: the managers' gRPC client with n1's
 *   certificate, the agents' control sockets), 8 calls in flight, each object's changes
 *   in order — a burst, not a CLI start per change.
 * - Settled is behaviour: the services the plan leaves exist with their replicas running
 *   (and no more task containers than that anywhere), each node runs exactly the planned
 *   standalone containers, and two readings of every node's kernel in a row are equal
 *   (gossip has delivered every endpoint).
 * - Reading the kernel: test/support/kernel-capture.ts (every namespace the agent owns;
 *   links with ifindex, routes, programmed neighbours and FDB entries, nft tables; no
 *   counters, timers or nft handles — the mesh's resync replaces its table whole by
 *   design). Then every agent runs a full resync (`Resync` on the control socket, which
 *   answers when every reconciler's resync pass finished; its counters must show one more
 *   resync each), the kernel is read again and must be equal: the first difference is
 *   named. Nothing is timed.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { AgentClient } from "../../../agent/control/client.js";
import { Executor } from "../../../common/executor.js";
import { Lab } from "../../../deploy/lab/lab.js";
import { nodeDir } from "../../../deploy/lab/state.js";
import type { ReconcilerCounters__Output } from "../../../proto/generated/swarmnet/v1/ReconcilerCounters.js";
import type { BurstDriverOptions, BurstReport } from "../../support/burst-driver.js";
import { planBurst } from "../../support/burst-plan.js";
import { swarmnet } from "../../support/cli.js";
import { captureNode, firstDifference, type NodeKernelState } from "../../support/kernel-capture.js";
import { eventually } from "../../support/lab-cluster.js";
import { LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

const DRIVER = fileURLToPath(new URL("../../support/burst-driver.js", import.meta.url));
const NODES = ["n1", "n2", "n3"];
const NETWORKS = ["fpa", "fpb"];
const CHANGES = 1000;
const CONCURRENCY = 8;
/** Generous bounds for a loaded machine: they only decide how long a failure takes. */
const SETTLE_MS = 240_000;
const DRIVER_TIMEOUT_MS = 600_000;

type Counters = Map<string, ReconcilerCounters__Output>;

describe("agent: the fast path and a full resync agree (netns lab, 1,000 random changes)", function () {
  // The burst alone takes minutes on a loaded machine; the suite's default is 120 s.
  this.timeout(900_000);
  const ex = new Executor();
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const seedFromEnv = process.env["SWARMNET_FAST_PATH_SEED"];
  const seed = seedFromEnv === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(seedFromEnv);
  const agents = new Map(NODES.map((n) => [n, new AgentClient(join(nodeDir(name, n), "agent.sock"))]));
  let started = false;

  const agent = (node: string) => agents.get(node) as AgentClient;
  const netns = (node: string) => `sn-${name}-${node}`;
  const counters = async (node: string, resync = false): Promise<Counters> => {
    const r = resync ? await agent(node).resync() : await agent(node).reconcilers();
    return new Map(r.reconcilers.map((c) => [c.name, c]));
  };
  const captureAll = async (): Promise<Map<string, NodeKernelState>> =>
    new Map(await Promise.all(NODES.map(async (n) => [n, await captureNode(ex, netns(n))] as const)));
  const tag = `seed ${seed} (replay: SWARMNET_FAST_PATH_SEED=${seed})`;

  before(async function () {
    if (!isRoot) return this.skip();
    started = true;
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "3", "--agent-resync-interval", "1h"]);
    assert.equal(up.exitCode, 0, up.stderr);
    for (const net of NETWORKS) await lab.ok("n1", "network", "create", "-d", "overlay", "--attachable", net);
  });

  after(async () => {
    if (started) await swarmnet(["lab", "down", "--name", name]);
  });

  it("after the burst, every node's kernel equals what a full resync makes of it", async () => {
    console.log(`      fast path vs resync: ${tag}`);
    const options: BurstDriverOptions = {
      lab: name,
      seed,
      count: CHANGES,
      nodes: NODES,
      networks: NETWORKS,
      prefix: "fp",
      concurrency: CONCURRENCY,
    };
    const { end } = planBurst(options);
    const before = new Map(await Promise.all(NODES.map(async (n) => [n, await counters(n)] as const)));

    const target = new Lab(ex).execTarget(name, "n1");
    const run = await target.host.run(
      [process.execPath, DRIVER, JSON.stringify(options)],
      { ...target.env, SWARMNET_LOG_LEVEL: "warn" },
      DRIVER_TIMEOUT_MS,
    );
    assert.equal(run.exitCode, 0, `${tag}: the driver failed: ${run.stderr}`);
    const report = JSON.parse(run.stdout) as BurstReport;
    console.log(
      `      burst: ${report.issued} changes in ${report.ms} ms; per kind ${JSON.stringify(report.msByKind)}`,
    );
    assert.equal(report.issued, CHANGES, tag);
    assert.equal(
      report.failed,
      0,
      `${tag}: ${report.failed} changes failed: ${JSON.stringify(report.errors)}`,
    );

    // Settled: what the plan leaves runs, nothing else; then the kernel stops changing.
    let last = "";
    await eventually(
      "the services and containers the plan leaves, and nothing more",
      async () => {
        const ls = JSON.parse(await lab.ok("n1", "service", "ls", "--format", "json")) as {
          Name: string;
          Replicas: string;
        }[];
        const services = new Map(ls.map((s) => [s.Name, s.Replicas]));
        const running = (await Promise.all(NODES.map((n) => agent(n).list(false)))).map((r) => r.containers);
        const tasks = new Map<string, number>();
        const standalone = new Map<string, string>();
        running.forEach((list, i) => {
          for (const c of list) {
            const service = c.name.split(".")[0] ?? "";
            if (c.name.includes(".")) tasks.set(service, (tasks.get(service) ?? 0) + 1);
            else standalone.set(c.name, NODES[i] ?? "");
          }
        });
        const want = [...end.services].map(([s, r]) => [s, `${r}/${r}`, r] as const);
        last = JSON.stringify({ services: [...services], tasks: [...tasks], standalone: [...standalone] });
        const ok =
          services.size === end.services.size &&
          want.every(([s, replicas, r]) => services.get(s) === replicas && (tasks.get(s) ?? 0) === r) &&
          [...tasks.keys()].every((s) => end.services.has(s)) &&
          standalone.size === end.containers.size &&
          [...end.containers].every(([c, node]) => standalone.get(c) === node);
        return ok ? true : undefined;
      },
      { timeoutMs: SETTLE_MS, describe: () => `${tag}; ${last}` },
    );
    let fast = await captureAll();
    await eventually(
      "two readings of every node's kernel in a row are equal",
      async () => {
        const again = await captureAll();
        const same = NODES.every((n) => firstDifference(fast.get(n), again.get(n)) === undefined);
        fast = again;
        return same ? true : undefined;
      },
      { timeoutMs: SETTLE_MS, describe: () => tag },
    );

    // The reading is the fast path's alone: no resync pass ran since the burst began.
    const settled = new Map(await Promise.all(NODES.map(async (n) => [n, await counters(n)] as const)));
    for (const n of NODES) {
      for (const [r, c] of settled.get(n) ?? []) {
        const b = before.get(n)?.get(r);
        assert.equal(
          c.resyncs,
          b?.resyncs,
          `${tag}: ${n}'s ${r} ran a resync pass during the burst (failures ${b?.failures} → ${c.failures}, last error: ${c.lastError || "none"})`,
        );
        assert.ok(c.passes > (b?.passes ?? 0), `${tag}: ${n}'s ${r} ran no pass during the burst`);
      }
    }

    // A full resync on every node; each reconciler's counters show it ran.
    const resynced = new Map(
      await Promise.all(NODES.map(async (n) => [n, await counters(n, true)] as const)),
    );
    for (const n of NODES) {
      for (const [r, c] of resynced.get(n) ?? []) {
        const s = settled.get(n)?.get(r);
        assert.ok(c.resyncs > (s?.resyncs ?? 0), `${tag}: ${n}'s ${r} ran no resync pass`);
        assert.equal(c.failures, s?.failures, `${tag}: ${n}'s ${r} failed its resync: ${c.lastError}`);
      }
    }
    const full = await captureAll();
    for (const n of NODES) {
      const d = firstDifference(fast.get(n), full.get(n));
      assert.equal(
        d,
        undefined,
        `${tag}: on ${n} the fast path left the kernel differently from a full resync: ${d}`,
      );
    }
  });
});

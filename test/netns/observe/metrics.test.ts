/**
 * Issue 15, metrics: in a 3-node lab every agent's and the manager's `/metrics` (read
 * with `lab metrics`, on each node's loopback) parses as Prometheus text and carries the
 * families the issue names; after an overlay network, a published 3-replica service and
 * a standalone container (asking the embedded DNS a name it knows and one it does not),
 * and a container on a local bridge network, the values moved as they must (asserted,
 * not just the names);
 * no join-token secret and nothing shaped like key bytes appears in any of them.
 */
import assert from "node:assert/strict";
import { eventually, LabCluster, labForSuite } from "../../support/lab-cluster.js";
import { BRIEF_MONITOR, swarmnet } from "../../support/cli.js";
import { assertNoSecrets, tokenSecrets } from "../../support/no-secrets.js";
import { Metrics } from "../../support/prom-metrics.js";

const AGENT_FAMILIES = [
  "swarmnet_gossip_members",
  "swarmnet_gossip_probes_total",
  "swarmnet_gossip_suspicions_total",
  "swarmnet_gossip_refutations_total",
  "swarmnet_gossip_health_score",
  "swarmnet_gossip_broadcast_queue_depth",
  "swarmnet_gossip_bytes_total",
  "swarmnet_gossip_dropped_packets_total",
  "swarmnet_networkdb_entries",
  "swarmnet_networkdb_sync_events_total",
  "swarmnet_reconcile_duration_seconds",
  "swarmnet_reconcile_last_success_timestamp_seconds",
  "swarmnet_reconcile_errors_total",
  "swarmnet_reconcile_pending",
  "swarmnet_mesh_services",
  "swarmnet_mesh_backends",
  "swarmnet_mesh_nft_elements",
  "swarmnet_mesh_apply_duration_seconds",
  "swarmnet_encryption_bytes_total",
  "swarmnet_encryption_packets_total",
  "swarmnet_encryption_dropped_packets_total",
  "swarmnet_encryption_key_tags",
  "swarmnet_dispatcher_sessions",
  "swarmnet_containers",
  "swarmnet_dns_queries_total",
  "swarmnet_dns_containers",
  "swarmnet_nft_session_transactions_total",
  "swarmnet_nft_session_starts_total",
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
];

const MANAGER_FAMILIES = [
  "swarmnet_etcd_txn_duration_seconds",
  "swarmnet_manager_leader",
  "swarmnet_manager_phase",
  "swarmnet_scheduler_passes_total",
  "swarmnet_scheduler_pass_duration_seconds",
  "swarmnet_tasks",
  "swarmnet_nodes",
  "swarmnet_services",
  "swarmnet_dispatcher_sessions",
  "process_cpu_seconds_total",
];

describe("observe: Prometheus metrics on agents and managers (netns lab, 3 nodes)", function () {
  this.timeout(300_000);
  const lab = labForSuite(new LabCluster(3));

  async function metrics(node: string, process: "agent" | "manager" = "agent"): Promise<Metrics> {
    const r = await swarmnet(["lab", "metrics", "--name", lab.name, "--process", process, node]);
    assert.equal(r.exitCode, 0, `lab metrics ${node} --process ${process}: ${r.stderr}`);
    return new Metrics(r.stdout);
  }

  it("every agent and the manager answer with the families, and the values follow the cluster", async () => {
    const before = new Map<string, Metrics>();
    for (const n of lab.nodeNames) before.set(n, await metrics(n));
    const managerBefore = await metrics("n1", "manager");
    for (const [n, m] of before) {
      for (const f of AGENT_FAMILIES) assert.ok(m.has(f), `agent ${n} lacks ${f}`);
    }
    for (const f of MANAGER_FAMILIES) assert.ok(managerBefore.has(f), `manager lacks ${f}`);

    await lab.ok(["network", "create", "-d", "overlay", "--attachable", "obsnet"]);
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "obsnet",
      "--publish",
      "8080:80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    await lab.waitRunning("web", 3);
    await lab.ok(["run", "-d", "--name", "obs1", "--network", "obsnet", "--", "sleep", "600"], "n2");
    await lab.ok(["network", "create", "-d", "bridge", "obsbr"], "n2");
    await lab.ok(["run", "-d", "--name", "obs2", "--network", "obsbr", "--", "sleep", "600"], "n2");
    // The embedded DNS: a name it knows (asked until the answer is there: the task's
    // facts travel by gossip) and one it does not.
    await eventually("obs1 resolves web", async () => {
      const r = await lab.cli(["exec", "obs1", "--", "dig", "+short", "+tries=1", "+time=3", "web"], "n2");
      return /^\d+\.\d+\.\d+\.\d+$/m.test(r.stdout) ? true : undefined;
    });
    await lab.cli(["exec", "obs1", "--", "dig", "+tries=1", "+time=3", "nosuchname"], "n2");

    // Gossip: every agent sees all three alive and has probed; the endpoint table holds
    // the tasks' and the container's endpoints; the mesh balances the published service.
    const after = new Map<string, Metrics>();
    for (const n of lab.nodeNames) {
      after.set(
        n,
        await eventually(`agent ${n} metrics after the service`, async () => {
          const m = await metrics(n);
          return m.value("swarmnet_gossip_members", { state: "alive" }) === 3 &&
            (m.value("swarmnet_mesh_backends") ?? 0) >= 3 &&
            m.sum("swarmnet_networkdb_entries") >= 4
            ? m
            : undefined;
        }),
      );
    }
    for (const [n, m] of after) {
      const b = before.get(n) as Metrics;
      assert.ok(
        (m.value("swarmnet_gossip_probes_total") ?? 0) > (b.value("swarmnet_gossip_probes_total") ?? 0),
        `${n}: probes did not move`,
      );
      assert.ok(
        (m.value("swarmnet_gossip_bytes_total", { direction: "out" }) ?? 0) > 0,
        `${n}: no gossip bytes`,
      );
      assert.ok((m.value("swarmnet_mesh_services") ?? 0) >= 1, `${n}: the mesh has no service`);
      assert.ok((m.value("swarmnet_mesh_nft_elements") ?? 0) > 0, `${n}: no nft elements`);
      assert.ok(
        m.sum("swarmnet_mesh_apply_duration_seconds") > b.sum("swarmnet_mesh_apply_duration_seconds"),
        `${n}: mesh applies not timed`,
      );
      // The overlay reconciler worked on the kernel for the new network, and its passes were timed.
      const applied = { reconciler: "overlay", result: "applied" };
      assert.ok(
        (m.value("swarmnet_reconcile_passes_total", applied) ?? 0) >
          (b.value("swarmnet_reconcile_passes_total", applied) ?? 0),
        `${n}: overlay applied nothing`,
      );
      assert.ok(
        (m.value("swarmnet_reconcile_duration_seconds", { reconciler: "overlay" }) ?? 0) >
          (b.value("swarmnet_reconcile_duration_seconds", { reconciler: "overlay" }) ?? 0),
        `${n}: overlay passes not timed`,
      );
      assert.ok(
        (m.value("swarmnet_reconcile_last_success_timestamp_seconds", { reconciler: "overlay" }) ?? 0) >
          Date.now() / 1000 - 600,
      );
      assert.equal(m.value("swarmnet_dispatcher_sessions"), 1, `${n}: not attached to a manager`);
      // The node mesh applies through its long-lived nft.
      assert.ok(
        (m.value("swarmnet_nft_session_transactions_total", { result: "applied" }) ?? 0) >
          (b.value("swarmnet_nft_session_transactions_total", { result: "applied" }) ?? 0),
        `${n}: no nft session transaction`,
      );
      assert.ok((m.value("swarmnet_nft_session_starts_total") ?? 0) >= 1, `${n}: no nft -i started`);
      assert.ok(
        (m.value("swarmnet_containers", { status: "running" }) ?? 0) >= 1,
        `${n}: no running container`,
      );
    }
    const n2 = after.get("n2") as Metrics;
    const n2Before = before.get("n2") as Metrics;
    assert.ok(
      (n2.value("swarmnet_containers", { status: "running" }) ?? 0) >= 3,
      "n2 runs a task, obs1, obs2",
    );
    // The local bridge driver's reconciler did kernel work for obsbr and obs2.
    const bridgeApplied = { reconciler: "bridge", result: "applied" };
    assert.ok(
      (n2.value("swarmnet_reconcile_passes_total", bridgeApplied) ?? 0) >
        (n2Before.value("swarmnet_reconcile_passes_total", bridgeApplied) ?? 0),
      "n2: the bridge reconciler applied nothing",
    );
    assert.ok(
      (n2.value("swarmnet_dns_queries_total", { result: "answered" }) ?? 0) >= 1,
      "n2: no DNS answer",
    );
    assert.ok((n2.value("swarmnet_dns_queries_total", { result: "nxdomain" }) ?? 0) >= 1, "n2: no NXDOMAIN");
    assert.ok((n2.value("swarmnet_dns_containers") ?? 0) >= 2, "n2: 127.0.0.11 in obs1 and obs2");

    const mgr = await eventually("manager metrics after the service", async () => {
      const m = await metrics("n1", "manager");
      return m.value("swarmnet_tasks", { state: "running" }) === 3 ? m : undefined;
    });
    assert.equal(mgr.value("swarmnet_manager_leader"), 1);
    assert.equal(mgr.value("swarmnet_manager_phase", { phase: "serving" }), 1);
    assert.equal(mgr.value("swarmnet_services"), 1);
    assert.equal(mgr.value("swarmnet_nodes", { status: "ready" }), 3);
    assert.equal(mgr.value("swarmnet_dispatcher_sessions"), 3);
    assert.ok(
      mgr.sum("swarmnet_etcd_txn_duration_seconds") > managerBefore.sum("swarmnet_etcd_txn_duration_seconds"),
      "etcd transactions not timed",
    );
    assert.ok(
      (mgr.value("swarmnet_scheduler_passes_total", { result: "ok" }) ?? 0) >
        (managerBefore.value("swarmnet_scheduler_passes_total", { result: "ok" }) ?? 0),
      "no scheduler pass",
    );
  });

  it("no join-token secret and nothing shaped like key bytes in any metric", async () => {
    const secrets = await tokenSecrets(lab);
    const texts = [
      ...(await Promise.all(lab.nodeNames.map((n) => metrics(n)))),
      await metrics("n1", "manager"),
    ];
    // Comment lines (HELP texts) are prose, not values.
    for (const m of texts) assertNoSecrets(m.text.replace(/^#.*$/gm, ""), secrets, "the metrics");
  });

  it("lab metrics refuses a bad process kind and a node without a manager, in one line", async () => {
    const bad = await swarmnet(["lab", "metrics", "--name", lab.name, "--process", "etcd", "n1"]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /^swarmnet: --process must be agent or manager/);
    const noManager = await swarmnet(["lab", "metrics", "--name", lab.name, "--process", "manager", "n2"]);
    assert.equal(noManager.exitCode, 1);
    assert.match(noManager.stderr, /n2 runs no manager/);
  });
});

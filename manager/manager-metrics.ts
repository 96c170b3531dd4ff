/**
 * A manager's Prometheus families (served with the live page on `--metrics-addr`,
 * loopback by default). Histograms are fed as things happen — every etcd transaction
 * (retries included) and every scheduling round this manager runs as leader; the rest is
 * read at scrape time from the manager's own mirror of etcd (no etcd round trip per
 * scrape): tasks by state, nodes by status, services, networks, sessions, leadership,
 * and the manager's phase (a locked manager shows `locked`, serving nothing).
 */
import {
  histogram,
  metricsRegistry,
  readCounter,
  readGauge,
  type Registry,
  type Sample,
} from "../common/metrics.js";
import type { Manager } from "./manager.js";
import { keys } from "./store/keys.js";
import type { TaskRecord } from "./store/records.js";

const seconds = (ms: number) => ms / 1000;

export function managerMetrics(m: Manager): Registry {
  const r = metricsRegistry();
  const reader = () => m.view.reader;
  const txn = histogram(
    r,
    "swarmnet_etcd_txn_duration_seconds",
    "Duration of one store transaction against etcd, conflicts and retries included",
    ["result"],
  );
  m.store.onTransact((ms, ok) => txn.observe({ result: ok ? "ok" : "error" }, seconds(ms)));
  const pass = histogram(
    r,
    "swarmnet_scheduler_pass_duration_seconds",
    "Duration of one scheduling round (leader only)",
  );
  const passes = { ok: 0, error: 0 };
  m.scheduler.onPass((p) => {
    pass.observe(seconds(p.durationMs));
    passes[p.error === undefined ? "ok" : "error"]++;
  });
  readCounter(
    r,
    "swarmnet_scheduler_passes_total",
    "Scheduling rounds this manager ran, by result",
    ["result"],
    () => [
      [{ result: "ok" }, passes.ok],
      [{ result: "error" }, passes.error],
    ],
  );
  readGauge(
    r,
    "swarmnet_manager_phase",
    "1 for the phase this manager is in (serving; locked until swarm unlock; waiting-certificate…)",
    ["phase"],
    () => [[{ phase: m.phase }, 1]],
  );
  readGauge(r, "swarmnet_manager_leader", "1 while this manager is the elected leader", [], () => [
    [{}, m.election.isLeader ? 1 : 0],
  ]);
  readGauge(r, "swarmnet_dispatcher_sessions", "Agent dispatcher streams this manager serves", [], () => [
    [{}, m.dispatcher.sessionCount],
  ]);
  readGauge(r, "swarmnet_tasks", "Tasks in the store that are not history, by state", ["state"], () => {
    const by = new Map<string, number>();
    for (const e of reader().entriesUnder(keys.tasksPrefix)) {
      const t = JSON.parse(e.value) as TaskRecord;
      if (t.released && t.desiredState !== "running") continue;
      by.set(t.state, (by.get(t.state) ?? 0) + 1);
    }
    return [...by].map(([state, n]): Sample => [{ state }, n]);
  });
  readGauge(
    r,
    "swarmnet_nodes",
    "Cluster nodes by status (ready: an agent stream is open)",
    ["status"],
    () => {
      const ready = new Set(
        reader()
          .entriesUnder(keys.sessionsPrefix)
          .map((e) => e.key.slice(keys.sessionsPrefix.length).split("/")[0]),
      );
      const nodes = reader()
        .entriesUnder(keys.nodesPrefix)
        .map((e) => e.key.slice(keys.nodesPrefix.length));
      const up = nodes.filter((id) => ready.has(id)).length;
      return [
        [{ status: "ready" }, up],
        [{ status: "down" }, nodes.length - up],
      ];
    },
  );
  readGauge(r, "swarmnet_services", "Services in the cluster", [], () => [
    [{}, reader().entriesUnder(keys.servicesPrefix).length],
  ]);
  readGauge(r, "swarmnet_networks", "Cluster-scope networks", [], () => [
    [{}, reader().entriesUnder(keys.networksPrefix).length],
  ]);
  readCounter(
    r,
    "swarmnet_etcd_watch_resyncs_total",
    "Times the manager's etcd mirror had to re-list (compaction, lost watch)",
    [],
    () => [[{}, reader().resyncs]],
  );
  return r;
}

/**
 * The agent's Prometheus families (served on `--metrics-addr`, loopback by default).
 * Everything except the two histograms is read from the owners at scrape time (see
 * common/metrics.ts): gossip and NetworkDB counters, each reconciler's runner stats, the
 * encryption backend's counters, the containers, the embedded DNS's queries by result,
 * the node mesh's long-lived nft. Histograms are fed as passes happen:
 * each reconciler's pass duration (kube-proxy's sync_proxy_rules_duration_seconds, one
 * series per reconciler) and the mesh's apply duration.
 *
 * The encryption family carries key *tags* (small integers) as labels, never key bytes.
 */
import type { PassResult } from "../common/bounded-frequency-runner.js";
import {
  histogram,
  metricsRegistry,
  readCounter,
  readGauge,
  type Histogram,
  type Registry,
  type Sample,
} from "../common/metrics.js";
import type { NftSessionStats } from "../common/nft-session.js";
import type { ResolverStats } from "./dns/resolver.js";
import type { EncryptionStats } from "./encryption/backend.js";
import type { GossipMetrics, NetworkDbMetrics } from "./gossip/index.js";
import type { ApplyStats } from "./ingress/load-balancer.js";
import type { MeshState } from "./ingress/mesh-state.js";
import type { ReconcilerStats } from "./reconcile/reconcile-loop.js";
import type { ContainerRecord } from "./sandbox/container.js";

/** What the metrics read; each getter is cheap and may return "not there (yet)". */
export interface AgentObservables {
  gossip(): { members: GossipMetrics; netdb: NetworkDbMetrics; tables: Map<string, number> } | undefined;
  reconcilers(): ReconcilerStats[];
  /** The clock the reconcilers' stats are in (only differences are meaningful). */
  clockNow(): number;
  encryption(): Promise<EncryptionStats | undefined>;
  containers(): readonly ContainerRecord[];
  /** The dispatcher stream to a manager is attached (the node is in a cluster). */
  clusterAttached(): boolean;
  /** The embedded DNS: its resolver's counts and how many containers it answers in. */
  dns(): { queries: ResolverStats; containers: number };
  /** The node mesh's `nft -i` session, once there is one. */
  nftSession(): NftSessionStats | undefined;
  /** Processes the executor started, by tool. */
  spawned(): ReadonlyMap<string, number>;
}

/** The resolver's counts as `result` label values (snake_case, Prometheus style). */
const DNS_RESULTS: Record<keyof ResolverStats, string> = {
  answered: "answered",
  notFound: "nxdomain",
  notReady: "not_ready",
  forwarded: "forwarded",
  upstreamFailed: "upstream_failed",
  malformed: "malformed",
  dropped: "dropped",
};

const none = (v: number): Sample[] => [[{}, v]];
const seconds = (ms: number) => ms / 1000;

export class AgentMetrics {
  readonly registry: Registry = metricsRegistry();
  private readonly passSeconds: Histogram;
  private readonly meshApplySeconds: Histogram;
  private mesh = { services: 0, backends: 0, elements: 0, rules: 0 };

  constructor(private readonly src: AgentObservables) {
    const r = this.registry;
    this.passSeconds = histogram(
      r,
      "swarmnet_reconcile_duration_seconds",
      "Duration of one reconciler pass (desired state, diff and kernel work)",
      ["reconciler"],
    );
    this.meshApplySeconds = histogram(
      r,
      "swarmnet_mesh_apply_duration_seconds",
      "Duration of one routing-mesh apply on the node's nftables table (build, nft; the conntrack cleanup runs after it)",
    );
    this.gossipFamilies();
    this.reconcileFamilies();
    this.meshFamilies();
    this.encryptionFamilies();
    this.dnsFamilies();
    readGauge(
      r,
      "swarmnet_containers",
      "Containers on this node by status (tasks and standalone)",
      ["status"],
      () => {
        const by = new Map<string, number>();
        for (const c of this.src.containers()) by.set(c.status, (by.get(c.status) ?? 0) + 1);
        return [...by].map(([status, n]) => [{ status }, n]);
      },
    );
    readGauge(
      r,
      "swarmnet_dispatcher_sessions",
      "Dispatcher streams to a manager this agent holds (0 or 1)",
      [],
      () => none(this.src.clusterAttached() ? 1 : 0),
    );
  }

  /** Feed from the reconcile loop's onPass. */
  observePass(reconciler: string, p: PassResult): void {
    this.passSeconds.observe({ reconciler }, seconds(p.durationMs));
  }

  /** Feed from the node mesh reconciler after each apply. */
  observeMesh(state: MeshState, stats: ApplyStats): void {
    this.meshApplySeconds.observe(seconds(stats.totalMs));
    const services = new Set<string>();
    let backends = 0;
    for (const p of state.ingress ?? []) {
      services.add(p.serviceId);
      backends += p.backends.length;
    }
    for (const v of state.vips ?? []) {
      services.add(v.serviceId);
      backends += v.backends.length;
    }
    this.mesh = { services: services.size, backends, elements: stats.size.elements, rules: stats.size.rules };
  }

  private gossipFamilies(): void {
    const r = this.registry;
    const g = () => this.src.gossip();
    const gauge = (name: string, help: string, pick: (m: GossipMetrics) => number) =>
      readGauge(r, name, help, [], () => {
        const x = g();
        return x === undefined ? [] : none(pick(x.members));
      });
    const counter = (name: string, help: string, pick: (m: GossipMetrics) => number) =>
      readCounter(r, name, help, [], () => {
        const x = g();
        return x === undefined ? [] : none(pick(x.members));
      });
    readGauge(
      r,
      "swarmnet_gossip_members",
      "Gossip members as this node sees them, by state",
      ["state"],
      () => Object.entries(g()?.members.membersByState ?? {}).map(([state, n]) => [{ state }, n]),
    );
    gauge(
      "swarmnet_gossip_health_score",
      "Lifeguard local health score (0 is healthy)",
      (m) => m.healthScore,
    );
    gauge(
      "swarmnet_gossip_broadcast_queue_depth",
      "Broadcasts waiting to be piggy-backed",
      (m) => m.broadcastQueueDepth,
    );
    counter("swarmnet_gossip_probes_total", "Direct probes sent", (m) => m.probes);
    counter("swarmnet_gossip_probe_failures_total", "Probes that got no ack in time", (m) => m.probeFailures);
    counter(
      "swarmnet_gossip_indirect_probes_total",
      "Indirect probes asked of other members",
      (m) => m.indirectProbes,
    );
    counter(
      "swarmnet_gossip_suspicions_total",
      "Members this node started suspecting",
      (m) => m.suspicionsStarted,
    );
    counter("swarmnet_gossip_deaths_total", "Members this node declared dead", (m) => m.deathsDeclared);
    counter("swarmnet_gossip_refutations_total", "Suspicions of this node it refuted", (m) => m.refutations);
    counter("swarmnet_gossip_push_pulls_total", "Push-pull anti-entropy exchanges", (m) => m.pushPulls);
    readCounter(r, "swarmnet_gossip_packets_total", "Gossip UDP packets by direction", ["direction"], () => {
      const m = g()?.members;
      return m === undefined
        ? []
        : [
            [{ direction: "in" }, m.packetsIn],
            [{ direction: "out" }, m.packetsOut],
          ];
    });
    readCounter(
      r,
      "swarmnet_gossip_bytes_total",
      "Gossip bytes (UDP and TCP) by direction",
      ["direction"],
      () => {
        const m = g()?.members;
        return m === undefined
          ? []
          : [
              [{ direction: "in" }, m.bytesIn],
              [{ direction: "out" }, m.bytesOut],
            ];
      },
    );
    readCounter(
      r,
      "swarmnet_gossip_dropped_packets_total",
      "Gossip packets dropped, by reason",
      ["reason"],
      () => Object.entries(g()?.members.droppedPackets ?? {}).map(([reason, n]) => [{ reason }, n]),
    );
    readGauge(r, "swarmnet_networkdb_entries", "Live NetworkDB entries by table", ["table"], () =>
      [...(g()?.tables ?? [])].map(([table, n]) => [{ table }, n]),
    );
    readGauge(r, "swarmnet_networkdb_networks", "Networks this node's NetworkDB has joined", [], () => {
      const x = g();
      return x === undefined ? [] : none(x.netdb.networks);
    });
    readGauge(r, "swarmnet_networkdb_tombstones", "Deleted NetworkDB entries kept until reaped", [], () => {
      const x = g();
      return x === undefined ? [] : none(x.netdb.tombstones);
    });
    readCounter(r, "swarmnet_networkdb_table_events_total", "NetworkDB table events received", [], () => {
      const x = g();
      return x === undefined ? [] : none(x.netdb.tableEventsIn);
    });
    readCounter(
      r,
      "swarmnet_networkdb_sync_events_total",
      "NetworkDB bulk syncs, by result",
      ["result"],
      () => {
        const x = g()?.netdb;
        return x === undefined
          ? []
          : [
              [{ result: "ok" }, x.bulkSyncs],
              [{ result: "error" }, x.bulkSyncErrors],
            ];
      },
    );
  }

  private reconcileFamilies(): void {
    const r = this.registry;
    const each = (pick: (s: ReconcilerStats) => number | undefined): Sample[] =>
      this.src.reconcilers().flatMap((s) => {
        const v = pick(s);
        return v === undefined ? [] : [[{ reconciler: s.name }, v]];
      });
    readGauge(
      r,
      "swarmnet_reconcile_last_success_timestamp_seconds",
      "Unix time of the reconciler's last successful pass",
      ["reconciler"],
      () => {
        const offset = Date.now() - this.src.clockNow();
        return each((s) => (s.lastSuccessAt === undefined ? undefined : seconds(offset + s.lastSuccessAt)));
      },
    );
    readCounter(r, "swarmnet_reconcile_errors_total", "Failed reconciler passes", ["reconciler"], () =>
      each((s) => s.failures),
    );
    readCounter(
      r,
      "swarmnet_reconcile_passes_total",
      "Reconciler passes, by what they did",
      ["reconciler", "result"],
      () =>
        this.src.reconcilers().flatMap((s): Sample[] => [
          [{ reconciler: s.name, result: "applied" }, s.applied],
          [{ reconciler: s.name, result: "unchanged" }, s.skipped],
          [{ reconciler: s.name, result: "failed" }, s.failures],
        ]),
    );
    readGauge(
      r,
      "swarmnet_reconcile_pending",
      "1 while a pass is wanted and has not started",
      ["reconciler"],
      () => each((s) => (s.pending ? 1 : 0)),
    );
  }

  private meshFamilies(): void {
    const r = this.registry;
    readGauge(r, "swarmnet_mesh_services", "Services the node's routing mesh balances", [], () =>
      none(this.mesh.services),
    );
    readGauge(r, "swarmnet_mesh_backends", "Backends over all of the mesh's services", [], () =>
      none(this.mesh.backends),
    );
    readGauge(r, "swarmnet_mesh_nft_elements", "Elements in the mesh's nftables sets and maps", [], () =>
      none(this.mesh.elements),
    );
    readGauge(r, "swarmnet_mesh_nft_rules", "Rules in the mesh's nftables table", [], () =>
      none(this.mesh.rules),
    );
  }

  private dnsFamilies(): void {
    const r = this.registry;
    readCounter(
      r,
      "swarmnet_dns_queries_total",
      "Queries to the embedded DNS (127.0.0.11), by result",
      ["result"],
      () =>
        Object.entries(this.src.dns().queries).map(([k, n]): Sample => [
          { result: DNS_RESULTS[k as keyof ResolverStats] },
          n,
        ]),
    );
    readGauge(r, "swarmnet_dns_containers", "Containers the embedded DNS answers in", [], () =>
      none(this.src.dns().containers),
    );
    const session = (pick: (s: NftSessionStats) => Sample[]) => () => {
      const s = this.src.nftSession();
      return s === undefined ? [] : pick(s);
    };
    readCounter(
      r,
      "swarmnet_nft_session_transactions_total",
      "Transactions sent to the node mesh's long-lived nft, by result",
      ["result"],
      session((s) => [
        [{ result: "applied" }, s.applied],
        [{ result: "failed" }, s.failed],
      ]),
    );
    readCounter(r, "swarmnet_executor_spawns_total", "Processes the agent started, by tool", ["tool"], () =>
      [...this.src.spawned()].map(([tool, n]): Sample => [{ tool }, n]),
    );
    readCounter(
      r,
      "swarmnet_nft_session_starts_total",
      "nft -i processes started for the node mesh (more than 1: one died or stuck and was replaced)",
      [],
      session((s) => none(s.starts)),
    );
  }

  private encryptionFamilies(): void {
    const r = this.registry;
    // One stats request per scrape, shared by the families of that scrape; a datapath that
    // does not answer leaves these families empty rather than failing the whole scrape.
    let pending: Promise<EncryptionStats | undefined> | undefined;
    const stats = () => {
      pending ??= this.src
        .encryption()
        .catch(() => undefined)
        .finally(() => queueMicrotask(() => (pending = undefined)));
      return pending;
    };
    const counters = async (pick: (c: Record<string, number>) => Sample[]): Promise<Sample[]> => {
      const s = await stats();
      return s === undefined ? [] : pick(s.counters);
    };
    readCounter(
      r,
      "swarmnet_encryption_bytes_total",
      "Encrypted overlay payload bytes, by direction",
      ["direction"],
      () =>
        counters((c) => [
          [{ direction: "out" }, c["bytesOut"] ?? 0],
          [{ direction: "in" }, c["bytesIn"] ?? 0],
        ]),
    );
    readCounter(
      r,
      "swarmnet_encryption_packets_total",
      "Encrypted overlay packets, by direction",
      ["direction"],
      () =>
        counters((c) => [
          [{ direction: "out" }, c["framesOut"] ?? 0],
          [{ direction: "in" }, c["recordsIn"] ?? 0],
        ]),
    );
    readCounter(
      r,
      "swarmnet_encryption_dropped_packets_total",
      "Encrypted datapath drops, by reason",
      ["reason"],
      () =>
        counters((c) =>
          Object.entries(c)
            .filter(([k]) => k.startsWith("drop") || k.startsWith("guardDrops"))
            .map(([k, n]): Sample => [{ reason: k }, n]),
        ),
    );
    readGauge(
      r,
      "swarmnet_encryption_key_tags",
      "Data-plane key tags in use (value 1; primary says which encrypts); never key bytes",
      ["tag", "primary"],
      async () => {
        const s = await stats();
        return (s?.keyTags ?? []).map((t) => [{ tag: String(t), primary: String(t === s?.primaryTag) }, 1]);
      },
    );
    readGauge(
      r,
      "swarmnet_encryption_peers",
      "Nodes this node encrypts overlay traffic with",
      [],
      async () => {
        const s = await stats();
        return s === undefined ? [] : none(s.peers);
      },
    );
  }
}

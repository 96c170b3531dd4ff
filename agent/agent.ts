/**
 * The node agent, as a composition root: it builds the parts and wires them, and owns no
 * decision itself.
 *
 *   containers     sandbox/containers.ts   run, stop, rm, connect, disconnect
 *   drivers        drivers/                overlay, bridge, macvlan, ipvlan, host, null
 *                                          behind one interface
 *   local networks local-network*.ts       the node's own networks (bridge, user-defined
 *                                          bridges…), kept in the state folder
 *   reconcilers    reconcile/              one per piece of kernel state (each driver's,
 *                                          the gateway bridge, the mesh tables, the
 *                                          node's entries in the endpoint tables), all
 *                                          fed from one node snapshot
 *   gossip         gossip-node.ts          membership + NetworkDB (the endpoint table)
 *
 * Changes reach the reconcilers as touches: intent events by kind (reconcile/triggers.ts),
 * a network's endpoint facts, a container change. Each reconciler has its own bounded-
 * frequency runner, so bursts coalesce, a failure is retried without holding back the
 * others, and a periodic pass resyncs drift.
 *
 * Restart recovery: container records persist in the state folder; at start the agent
 * reloads them, keeps those whose namespace still exists, and reconciles — drivers observe
 * the kernel first, so live veths, VXLAN devices and FDB entries are adopted, not rebuilt,
 * and traffic keeps flowing.
 */
import { join } from "node:path";
import { machine, platform } from "node:os";
import { AgentMetrics } from "./agent-metrics.js";
import type { Clock, TimerHandle } from "../common/clock.js";
import { RealClock } from "../common/clock.js";
import { readFileSync } from "node:fs";
import { Executor, type NetnsListeners } from "../common/executor.js";
import { createLogger, type Logger } from "../common/logger.js";
import { HelperRunner } from "../common/command-helper.js";
import { removeStaleTransactionFiles } from "../common/nft-session.js";
import {
  LocalEndpointTable,
  NoClusterAttacher,
  type EndpointTable,
  type NetworkAttacher,
} from "./attachments.js";
import type { AgentConfig } from "./config.js";
import type { IntentEvent, IntentState } from "./dispatcher/index.js";
import { BridgeDriver, bridgeNetworks } from "./drivers/bridge/index.js";
import type { NetworkDriver } from "./drivers/driver.js";
import { IpvlanDriver } from "./drivers/ipvlan/ipvlan-driver.js";
import { MacvlanDriver } from "./drivers/macvlan/index.js";
import { HostDriver } from "./drivers/host/host-driver.js";
import { NullDriver } from "./drivers/null/null-driver.js";
import { OverlayDriver, OverlayEncryption } from "./drivers/overlay/index.js";
import { DriverRegistry } from "./drivers/registry.js";
import { DNS_PORT, EMBEDDED_DNS_ADDRESS, EmbeddedDns, nodeUpstreams } from "./dns/index.js";
import { endpointFactsReconciler } from "./endpoint-facts.js";
import type { KeyRing } from "./encryption/index.js";
import { GossipEndpointTable } from "./gossip-endpoints.js";
import { GossipNode, type MemberView } from "./gossip-node.js";
import { GW_BRIDGE, GW_SUBNET, GatewayBridge, desiredGateway, gatewayReconciler } from "./gwbridge/index.js";
import {
  ContainerMeshes,
  chooseMeshBackend,
  createMesh,
  loadMeshConfig,
  nodeMeshReconciler,
  type EgressMasquerade,
  type MeshBackendKind,
  type NodeMesh,
} from "./ingress/index.js";
import { LocalNetworkService } from "./local-network-service.js";
import { LocalNetworks } from "./local-networks.js";
import { NodeState, type NodeSnapshot } from "./node-snapshot.js";
import { probeKernel, type KernelCapabilities, type NodeCapabilities } from "./probe.js";
import { ReconcileLoop, type ReconcilerEntry } from "./reconcile/reconcile-loop.js";
import { R, TOUCHED_BY_CONTAINERS, TOUCHED_BY_FACTS, touchedByIntent } from "./reconcile/triggers.js";
import { ContainerStore, Containers, SandboxRuntime } from "./sandbox/index.js";

export interface AgentDeps {
  executor?: Executor;
  clock?: Clock;
  attacher?: NetworkAttacher;
  endpoints?: EndpointTable;
  logger?: Logger;
  /** Binds the embedded DNS's sockets in a namespace (unit tests: anywhere else). */
  dnsListen?: (namespaces: readonly string[]) => Promise<Map<string, NetnsListeners | Error>>;
  /** Capabilities to use instead of probing the kernel (unit tests). */
  capabilities?: KernelCapabilities;
  /**
   * The node was in a cluster when the agent started: it waits for the managers' intent
   * (and its networks' first NetworkDB sync) before it removes anything a previous agent left.
   */
  joined?: boolean;
}

const DEFAULT_UNDERLAY_MTU = 1500;

/**
 * What the node masquerades on the way out: the gateway bridge's range while it has
 * ports, and every bridge network that masquerades (not `--internal`, not
 * `enable_ip_masquerade=false`). Traffic between the node's bridges is never masqueraded.
 */
export function egress(s: NodeSnapshot): EgressMasquerade | undefined {
  const bridges = bridgeNetworks(s);
  const gw = desiredGateway(s).length > 0;
  const sourceCidrs = [
    ...(gw ? [GW_SUBNET] : []),
    ...bridges.filter((b) => b.masquerade).map((b) => b.subnet),
  ];
  if (sourceCidrs.length === 0) return undefined;
  return { sourceCidrs, bridges: [...(gw ? [GW_BRIDGE] : []), ...bridges.map((b) => b.device)] };
}

/**
 * How often the agent looks whether each container's process still runs (a signal-0 and a
 * /proc read each, no process started): a task whose process died is reported within it.
 */
const CONTAINER_LIVENESS_MS = 5_000;

/** Timings of the reconcile loop; the resync period is the agent's `resyncIntervalMs`. */
export const RECONCILE_DEFAULTS = {
  // Bursts closer than this coalesce into one pass (a gossip storm, a scale-up).
  minIntervalMs: 20,
  // A failing reconciler is retried soon, then less and less often.
  retryInitialMs: 200,
  retryMaxMs: 10_000,
  // After a restart, removing waits at least this long (the intent's networks joined in
  // NetworkDB) and until gossip reached a peer and each network's first bulk sync answered.
  settleMs: 1_000,
  // How often that is checked, and the longest it waits (a lone node, a partition).
  settlePollMs: 200,
  settleMaxMs: 30_000,
};

export class Agent {
  capabilities: KernelCapabilities | undefined;
  /** Set by the dispatcher once the node joined a cluster; the no-cluster one until then. */
  attacher: NetworkAttacher;
  /** Cluster-wide endpoint facts: NetworkDB over gossip once started, local-only before. */
  endpoints: EndpointTable;
  readonly containers: Containers;
  readonly state: NodeState;
  /** The node's own networks (bridge, host, none, user-defined local ones). */
  readonly localNetworks: LocalNetworks;
  /** `network create|rm|prune` of the node's own networks. */
  readonly networks: LocalNetworkService;
  readonly dns: EmbeddedDns;
  drivers: DriverRegistry | undefined;
  loop: ReconcileLoop | undefined;
  /** Encrypted overlays' backend (decided from the probe at start). */
  encryption: OverlayEncryption | undefined;
  /** The dispatcher stream to the managers is attached (set by whoever links the cluster). */
  clusterAttached = false;
  /** Prometheus families, read at scrape time (served by runAgent on --metrics-addr). */
  readonly metrics: AgentMetrics;
  private readonly ex: Executor;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly store: ContainerStore;
  private readonly ownsEndpointTable: boolean;
  private gossip: GossipNode | undefined;
  private settleTimer: TimerHandle | undefined;
  private intentArrived = false;
  private gossipSynced = false;
  private nodeMesh: NodeMesh | undefined;
  private meshBackend: MeshBackendKind = "nftables";
  private running = false;

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentDeps = {},
  ) {
    // Kernel commands through one helper process: a fork of the agent costs ~10 ms each.
    this.ex = deps.executor ?? new Executor(new HelperRunner());
    this.clock = deps.clock ?? new RealClock();
    this.log = deps.logger ?? createLogger("agent");
    this.attacher = deps.attacher ?? new NoClusterAttacher();
    this.endpoints = deps.endpoints ?? new LocalEndpointTable();
    this.ownsEndpointTable = deps.endpoints === undefined;
    this.store = new ContainerStore(config.stateDir);
    this.localNetworks = new LocalNetworks(config.nodeName, config.stateDir);
    this.state = new NodeState(
      { name: config.nodeName, advertiseAddr: config.advertiseAddr, underlayMtu: DEFAULT_UNDERLAY_MTU },
      this.store,
      this.localNetworks,
      () => this.endpoints,
      deps.joined === true,
    );
    const predefined = new Set(
      this.localNetworks
        .all()
        .filter((n) => this.localNetworks.isPredefined(n))
        .map((n) => n.id),
    );
    this.dns = new EmbeddedDns({
      snapshot: () => this.state.snapshot(),
      dnsNetwork: (id) => !predefined.has(id),
      listen:
        deps.dnsListen ?? ((namespaces) => this.ex.listenIn(namespaces, EMBEDDED_DNS_ADDRESS, DNS_PORT)),
      upstreams: nodeUpstreams(config.dnsUpstreams, () => readFileSync("/etc/resolv.conf", "utf8")),
      dir: join(config.stateDir, "resolv"),
      log: this.log.child({ component: "dns" }),
    });
    this.metrics = new AgentMetrics({
      gossip: () =>
        this.gossip && {
          members: this.gossip.memberlist.metrics(),
          netdb: this.gossip.netdb.metrics(),
          tables: this.gossip.netdb.entriesByTable(),
        },
      reconcilers: () => this.loop?.stats() ?? [],
      clockNow: () => this.clock.now(),
      encryption: () => this.encryption?.stats() ?? Promise.resolve(undefined),
      containers: () => this.containers.list(true),
      clusterAttached: () => this.clusterAttached,
      dns: () => ({ queries: this.dns.resolver.stats, containers: this.dns.servedContainers() }),
      nftSession: () => this.nodeMesh?.sessionStats(),
      spawned: () => this.ex.spawned,
    });
    this.containers = new Containers({
      store: this.store,
      runtime: new SandboxRuntime(this.ex, join(config.stateDir, "logs"), (c) => this.dns.resolvConfOf(c.id)),
      drivers: () => this.registry(),
      attacher: () => this.attacher,
      intent: () => this.state.intent,
      localNetworks: this.localNetworks,
      kernel: { sync: () => this.sync(TOUCHED_BY_CONTAINERS) },
      nodeName: config.nodeName,
      netnsPrefix: config.netnsPrefix,
      log: this.log.child({ component: "containers" }),
      clock: this.clock,
      livenessIntervalMs: CONTAINER_LIVENESS_MS,
    });
    this.networks = new LocalNetworkService({
      networks: this.localNetworks,
      drivers: () => this.registry(),
      containers: () => this.store.all(),
      intent: () => this.state.intent,
      ex: this.ex,
      kernel: { sync: () => this.sync() },
    });
  }

  get intent(): IntentState | undefined {
    return this.state.intent;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const stale = removeStaleTransactionFiles();
    if (stale.length > 0) this.log.info({ files: stale }, "removed nft transaction files of dead processes");
    this.capabilities = this.deps.capabilities ?? (await probeKernel(this.ex));
    this.state.node.underlayMtu = await this.findUnderlayMtu();
    this.meshBackend = this.chooseMesh(this.capabilities);
    this.encryption = this.createEncryption(this.capabilities);
    await this.startGossip();
    const drivers = new DriverRegistry(this.allDrivers(), this.capabilities);
    this.drivers = drivers;
    this.loop = new ReconcileLoop(() => this.state.snapshot(), this.reconcilers(drivers), {
      ...RECONCILE_DEFAULTS,
      resyncIntervalMs: this.config.resyncIntervalMs,
      clock: this.clock,
      log: this.log.child({ component: "reconcile" }),
    });
    this.loop.onPass((name, p) => this.metrics.observePass(name, p));
    this.store.load();
    this.localNetworks.load();
    await this.containers.adopt(await this.ex.netnsList());
    this.endpoints.onChange(() => this.loop?.touch(TOUCHED_BY_FACTS));
    this.store.onChange(() => this.loop?.touch(TOUCHED_BY_CONTAINERS));
    this.loop.start();
    await this.loop
      .sync()
      .catch((err: unknown) => this.log.error({ err }, "first reconcile failed; retrying"));
    this.log.info(
      {
        node: this.config.nodeName,
        advertiseAddr: this.config.advertiseAddr,
        managers: this.config.managers,
        kernel: this.capabilities.kernelRelease,
        available: this.capabilities.features.filter((f) => f.available).map((f) => f.name),
        missing: this.capabilities.features.filter((f) => !f.available).map((f) => f.name),
        drivers: drivers.available(),
        underlayMtu: this.state.node.underlayMtu,
        containers: this.store.all().length,
      },
      "agent started",
    );
  }

  /** Stops timers; containers and kernel state stay, for the next agent to adopt. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.settleTimer?.cancel();
    await this.containers.stop();
    this.loop?.stop();
    this.nodeMesh?.stop();
    this.dns.stop();
    this.gossip?.stop();
    await this.encryption?.stop();
    this.ex.close();
    this.log.info({ node: this.config.nodeName }, "agent stopped");
  }

  /**
   * What this node reports with its node description: the probe, the drivers it runs and
   * its platform as Docker names it (placement constraints' node.platform.os / .arch).
   */
  description(): NodeCapabilities | undefined {
    const caps = this.capabilities;
    return caps === undefined
      ? undefined
      : { ...caps, drivers: this.drivers?.available() ?? [], os: platform(), arch: machine() };
  }

  /** The drivers this node runs (after start). */
  registry(): DriverRegistry {
    if (this.drivers === undefined) throw new Error("agent not started");
    return this.drivers;
  }

  /** Intent changed (the dispatcher stream): `events` decide what to touch; none = everything. */
  setIntent(intent: IntentState, events?: readonly IntentEvent[]): void {
    this.state.setIntent(intent);
    this.intentArrived = true;
    this.maybeSettle();
    if (events === undefined) this.loop?.touch();
    else this.loop?.touch(events.flatMap(touchedByIntent));
  }

  /** A pass of the named reconcilers (all when omitted) that starts now; resolves when done. */
  sync(names?: Iterable<string>, options: { resync?: boolean } = {}): Promise<void> {
    return this.loop?.sync(names, options) ?? Promise.resolve();
  }

  /** Periodic-style repair now: every reconciler re-reads the kernel. */
  resync(): Promise<void> {
    return this.sync(undefined, { resync: true });
  }

  /** Joins gossip through the seeds the managers list. */
  async joinGossip(seeds: readonly string[]): Promise<number> {
    const reached = (await this.gossip?.join(seeds)) ?? 0;
    // A node that is its only seed has nobody to learn from: it knows all there is.
    const alone = seeds.every((seed) => seed.split(":")[0] === this.config.advertiseAddr);
    if (reached > 0 || alone) this.gossipSynced = true;
    return reached;
  }

  /**
   * Ends the settling of a restarted agent once it knows what it should hold: the
   * managers' intent has arrived, gossip has exchanged state with a peer and every
   * network joined has had its first bulk sync (NetworkDB's awaitingFirstSync). Fixed
   * delays were too short on a loaded machine: remote endpoints not yet synced were
   * removed from the kernel and re-added. Without a peer (a lone node, a partition) it
   * settles after `settleMaxMs`.
   */
  private maybeSettle(): void {
    if (!this.state.isSettling || !this.intentArrived || this.settleTimer !== undefined) return;
    const settle = () => {
      this.state.settled();
      this.loop?.touch();
    };
    const gossip = this.gossip;
    if (gossip === undefined) return settle();
    const deadline = this.clock.now() + RECONCILE_DEFAULTS.settleMaxMs;
    const check = () => {
      const known = this.gossipSynced && gossip.netdb.awaitingFirstSync().length === 0;
      if (known || this.clock.now() >= deadline) return settle();
      this.settleTimer = this.clock.setTimeout(check, RECONCILE_DEFAULTS.settlePollMs);
    };
    this.settleTimer = this.clock.setTimeout(check, RECONCILE_DEFAULTS.settleMs);
  }

  /** Keys first, before any seed is joined: the first packets are sealed. */
  setGossipKeys(ring: KeyRing | undefined): void {
    if (ring !== undefined) this.gossip?.setKeys(ring);
  }

  /** Gossip members as this node sees them (for `swarmnet agent members`). */
  members(): MemberView[] {
    return this.gossip?.members() ?? [];
  }

  private allDrivers(): NetworkDriver[] {
    return [
      new OverlayDriver({
        ex: this.ex,
        prefix: this.config.netnsPrefix,
        node: this.state.node,
        encryption: this.encryption,
        log: this.log.child({ component: "overlay" }),
      }),
      new BridgeDriver(this.ex),
      new MacvlanDriver(this.ex, () => this.capabilities),
      new IpvlanDriver(this.ex, () => this.capabilities),
      new HostDriver(),
      new NullDriver(),
    ];
  }

  private reconcilers(drivers: DriverRegistry): ReconcilerEntry[] {
    const mesh = createMesh(this.meshBackend, this.ex, {
      log: this.log.child({ component: "mesh" }),
      clock: this.clock,
      session: true,
    });
    this.nodeMesh = mesh;
    // The tables' full re-render is costlier than the other resyncs, so it runs less often;
    // never more often than the agent's own period (a lab that turns resyncs down, e.g.
    // the fast-path-vs-resync test, turns this one down too).
    const resyncIntervalMs = Math.max(loadMeshConfig().resyncIntervalMs, this.config.resyncIntervalMs);
    const entries: ReconcilerEntry[] = [];
    for (const d of drivers.all()) {
      for (const r of d.reconcilers)
        entries.push({ reconciler: r, ...(r.name === R.encryption ? { invalidates: [R.overlay] } : {}) });
    }
    entries.push(
      { reconciler: gatewayReconciler(new GatewayBridge(this.ex, undefined)) },
      {
        reconciler: nodeMeshReconciler(mesh, egress, (d, stats) => this.metrics.observeMesh(d, stats)),
        resyncIntervalMs,
      },
      { reconciler: new ContainerMeshes(this.ex, this.meshBackend).reconciler(), resyncIntervalMs },
      { reconciler: this.dns.reconciler() },
      {
        reconciler: endpointFactsReconciler(
          this.config.nodeName,
          () => this.endpoints,
          () => this.registry(),
        ),
      },
    );
    return entries;
  }

  /** The routing mesh's engine, shown in `node inspect` as `mesh_backend`; a forced one the kernel lacks throws. */
  private chooseMesh(caps: KernelCapabilities): MeshBackendKind {
    const decision = chooseMeshBackend(caps, this.config.ingressBackend);
    caps.features.push({
      name: "mesh_backend",
      available: true,
      detail: `${decision.kind}: ${decision.reason}`,
    });
    return decision.kind;
  }

  private createEncryption(caps: KernelCapabilities): OverlayEncryption | undefined {
    if (this.config.advertiseAddr === undefined) return undefined;
    const enc = new OverlayEncryption(
      this.ex,
      caps,
      this.config.advertiseAddr,
      this.config.stateDir,
      this.log.child({ component: "encryption" }),
    );
    caps.features.push({
      name: "encryption_backend",
      available: true,
      detail: `${enc.kind}: ${enc.decision.reason}`,
    });
    return enc;
  }

  private async findUnderlayMtu(): Promise<number> {
    const addr = this.config.advertiseAddr;
    if (addr === undefined) return DEFAULT_UNDERLAY_MTU;
    const links = await this.ex.ipJson<{ ifname: string; mtu?: number; addr_info?: { local: string }[] }>([
      "addr",
      "show",
    ]);
    return links.find((l) => (l.addr_info ?? []).some((a) => a.local === addr))?.mtu ?? DEFAULT_UNDERLAY_MTU;
  }

  /** Gossip on the advertise address; NetworkDB becomes the endpoint table. */
  private async startGossip(): Promise<void> {
    const addr = this.config.advertiseAddr;
    if (addr === undefined || this.config.gossipPort === 0) return;
    const { nodeName, gossipPort, gossipProfile } = this.config;
    this.gossip = await GossipNode.start(
      nodeName,
      addr,
      gossipPort,
      gossipProfile,
      this.log.child({ component: "gossip" }),
      join(this.config.stateDir, "gossip-clocks.json"),
    );
    if (this.ownsEndpointTable) this.endpoints = new GossipEndpointTable(this.gossip.netdb);
  }
}

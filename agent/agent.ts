/**
 * The node agent: owns this node's containers and their networks. It keeps three views
 * in step — intent (its containers, the networks the managers attached them to), runtime
 * facts (every remote endpoint, from the endpoint table over gossip) and the kernel —
 * by recomputing the overlay's desired state and letting the driver reconcile it:
 * after every change, and on a periodic resync that repairs drift.
 *
 * Restart recovery: container records persist in the state folder; at start the agent
 * reloads them, keeps the ones whose namespace still exists, and reconciles — the driver
 * observes the kernel first, so live veths, VXLAN devices and FDB entries are adopted, not
 * rebuilt, and traffic keeps flowing.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Clock, TimerHandle } from "../common/clock.js";
import { RealClock } from "../common/clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import { createLogger, type Logger } from "../common/logger.js";
import { macFromIpv4, parseCidr, parseIpv4 } from "../common/net-addr.js";
import {
  LocalEndpointTable,
  NoClusterAttacher,
  type Attachment,
  type EndpointFact,
  type EndpointTable,
  type NetworkAttacher,
  type NetworkSpec,
} from "./attachments.js";
import type { AgentConfig } from "./config.js";
import { probeKernel, type KernelCapabilities } from "./probe.js";
import {
  ContainerStore,
  SandboxRuntime,
  findContainer,
  nextIfname,
  type ContainerRecord,
  freeEphemeralPort,
  type EndpointNetwork,
  type EndpointRecord,
  type PortMapping,
} from "./sandbox/index.js";
import {
  DEFAULT_VXLAN_PORT,
  OverlayDriver,
  VXLAN_OVERHEAD_BYTES,
  type OverlayDesired,
} from "./vxlan/index.js";
import { GatewayBridge, gatewayAddress, type GatewayPort } from "./gwbridge/index.js";
import { Mesh } from "./ingress/index.js";
import { GossipEndpointTable } from "./gossip-endpoints.js";
import { GossipNode, type MemberView } from "./gossip-node.js";
import { OPT_DATA_PATH_PORT, networkSpecFor, type IntentState } from "./dispatcher/index.js";
import { containerMeshState, nodeMeshState } from "./mesh-feed.js";
import { OverlayEncryption } from "./overlay-encryption.js";
import type { KeyRing } from "./encryption/index.js";

export interface AttachOptions {
  network: string;
  ip: string | undefined;
  aliases: string[];
}

export interface RunOptions {
  name: string | undefined;
  /** Networks to attach through the managers' IPAM (standalone containers). */
  networks: AttachOptions[];
  command: string[];
  env: Record<string, string>;
  detach: boolean;
  /** A fixed id (a service task's), instead of a random one. */
  id?: string;
  /** Attachments the managers already made (a service task's networks, with its IPs). */
  attachments?: { attachment: Attachment; aliases: string[] }[];
  /** Free-form labels kept with the record (service and task ids of a task). */
  labels?: Record<string, string>;
  /** `run -p`: node ports forwarded to the container (host port 0: a free one). */
  ports?: PortMapping[];
}

export interface AgentDeps {
  executor?: Executor;
  clock?: Clock;
  attacher?: NetworkAttacher;
  endpoints?: EndpointTable;
  logger?: Logger;
}

/** A service task's container: its addresses are the managers' to free, not the agent's. */
export function isTask(c: ContainerRecord): boolean {
  return c.labels["taskId"] !== undefined;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const DEFAULT_UNDERLAY_MTU = 1500;
const MTU_OPTIONS = ["mtu", "com.docker.network.driver.mtu"];
/** The node's port on the ingress network. */
const INGRESS_IFNAME = "ingress0";

export class Agent {
  capabilities: KernelCapabilities | undefined;
  /** Set by the dispatcher once the node joined a cluster; the no-cluster one until then. */
  attacher: NetworkAttacher;
  /** Cluster-wide endpoint facts: NetworkDB over gossip once started, local-only before. */
  endpoints: EndpointTable;
  /** The managers' intent for this node (networks, services, its tasks); set once joined. */
  intent: IntentState | undefined;
  readonly overlay: OverlayDriver;
  readonly gateway: GatewayBridge;
  /** The node namespace's nftables table: routing mesh, publishing, egress masquerade. */
  readonly nodeMesh: Mesh;
  private readonly ex: Executor;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly store: ContainerStore;
  private readonly runtime: SandboxRuntime;
  private readonly ownsEndpointTable: boolean;
  private gossip: GossipNode | undefined;
  /** One nftables table per container with service VIPs to balance. */
  private readonly containerMeshes = new Map<string, Mesh>();
  private readonly exitListeners: ((c: ContainerRecord, code: number) => void)[] = [];
  private publishedNodePort: { key: string; networkId: string } | undefined;
  /** Encrypted overlays' backend (decided from the probe at start). */
  encryption: OverlayEncryption | undefined;
  private underlayMtu = DEFAULT_UNDERLAY_MTU;
  private resyncTimer: TimerHandle | undefined;
  private running = false;
  /** Serializes container operations so two CLI calls never race on one record. */
  private ops: Promise<unknown> = Promise.resolve();
  /** Serializes kernel reconciles (the endpoint table's events arrive at any time). */
  private kernelQueue: Promise<unknown> = Promise.resolve();
  private queuedReconcile: Promise<void> | undefined;

  constructor(
    readonly config: AgentConfig,
    deps: AgentDeps = {},
  ) {
    this.ex = deps.executor ?? new Executor();
    this.clock = deps.clock ?? new RealClock();
    this.log = deps.logger ?? createLogger("agent");
    this.attacher = deps.attacher ?? new NoClusterAttacher();
    this.endpoints = deps.endpoints ?? new LocalEndpointTable();
    this.ownsEndpointTable = deps.endpoints === undefined;
    this.store = new ContainerStore(config.stateDir);
    this.runtime = new SandboxRuntime(this.ex, join(config.stateDir, "logs"));
    this.overlay = new OverlayDriver(this.ex, { prefix: config.netnsPrefix });
    this.gateway = new GatewayBridge(this.ex, undefined);
    this.nodeMesh = new Mesh(this.ex, { log: this.log.child({ component: "mesh" }) });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.capabilities = await probeKernel(this.ex);
    this.underlayMtu = await this.findUnderlayMtu();
    if (this.config.advertiseAddr !== undefined) {
      this.encryption = new OverlayEncryption(
        this.ex,
        this.capabilities,
        this.config.advertiseAddr,
        this.config.stateDir,
        this.log.child({ component: "encryption" }),
        DEFAULT_VXLAN_PORT,
      );
      this.capabilities.features.push({
        name: "encryption_backend",
        available: true,
        detail: `${this.encryption.kind}: ${this.encryption.decision.reason}`,
      });
    }
    await this.startGossip();
    this.store.load();
    await this.adopt();
    this.endpoints.onChange(() => void this.reconcile().catch((err: unknown) => this.reconcileFailed(err)));
    this.resyncTimer = this.clock.setInterval(() => void this.resync(), this.config.resyncIntervalMs);
    this.nodeMesh.start();
    this.log.info(
      {
        node: this.config.nodeName,
        advertiseAddr: this.config.advertiseAddr,
        managers: this.config.managers,
        kernel: this.capabilities.kernelRelease,
        available: this.capabilities.features.filter((f) => f.available).map((f) => f.name),
        missing: this.capabilities.features.filter((f) => !f.available).map((f) => f.name),
        underlayMtu: this.underlayMtu,
        containers: this.store.all().length,
      },
      "agent started",
    );
  }

  /** Stops timers; containers and kernel state stay, for the next agent to adopt. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.resyncTimer?.cancel();
    this.nodeMesh.stop();
    await this.ops.catch(() => undefined);
    this.gossip?.stop();
    await this.encryption?.stop();
    this.log.info({ node: this.config.nodeName }, "agent stopped");
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
    );
    if (this.ownsEndpointTable) this.endpoints = new GossipEndpointTable(this.gossip.netdb, nodeName);
  }

  /** Joins gossip through the seeds the managers list. */
  joinGossip(seeds: readonly string[]): Promise<number> {
    return this.gossip?.join(seeds) ?? Promise.resolve(0);
  }

  /** Keys first, before any seed is joined: the first packets are sealed. */
  setGossipKeys(ring: KeyRing | undefined): void {
    if (ring !== undefined) this.gossip?.setKeys(ring);
  }

  /** Gossip members as this node sees them (for `swarmnet agent members`). */
  members(): MemberView[] {
    return this.gossip?.members() ?? [];
  }

  onContainerExit(listener: (c: ContainerRecord, code: number) => void): void {
    this.exitListeners.push(listener);
  }

  /** Intent changed (the dispatcher stream): re-plan the kernel. */
  setIntent(intent: IntentState): void {
    this.intent = intent;
    void this.reconcile().catch((err: unknown) => this.reconcileFailed(err));
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

  /** Keeps records whose namespace survived, re-publishes their endpoints, reconciles. */
  private async adopt(): Promise<void> {
    for (const c of this.store.all()) {
      if (!(await this.runtime.exists(c))) {
        this.log.warn({ container: c.name }, "container namespace is gone; forgetting it");
        this.store.delete(c.id);
        continue;
      }
      if (c.status === "running" && !this.runtime.isRunning(c)) this.markExited(c, -1);
    }
    await this.publishAll();
    await this.reconcile();
  }

  private async publishAll(): Promise<void> {
    for (const c of this.store.all()) {
      for (const ep of c.endpoints) {
        await this.endpoints.joinNetwork(ep.network.id);
        this.endpoints.publish(this.fact(c, ep));
      }
    }
  }

  private fact(c: ContainerRecord, ep: EndpointRecord): EndpointFact {
    return {
      networkId: ep.network.id,
      key: `${c.id}/${ep.network.id}`,
      ip: ep.ip,
      mac: ep.mac,
      vtep: this.config.advertiseAddr ?? "",
      node: this.config.nodeName,
      container: c.name,
      aliases: ep.aliases,
      serviceId: c.labels["serviceId"] ?? "",
    };
  }

  /** The overlay's desired state from the container records and the endpoint table. */
  desiredOverlay(): OverlayDesired {
    const networks = new Map<string, EndpointRecord["network"]>();
    const local: OverlayDesired["local"] = [];
    for (const c of this.store.all()) {
      c.endpoints.forEach((ep, i) => {
        networks.set(ep.network.id, ep.network);
        local.push({
          id: `${c.id}/${ep.network.id}`,
          networkId: ep.network.id,
          containerNetns: c.netns,
          ifname: ep.ifname,
          ip: ep.ip,
          mac: ep.mac,
          defaultRoute: i === 0 && c.gatewayIp === undefined,
        });
      });
    }
    const port = this.nodeIngressPort();
    if (port !== undefined) {
      networks.set(port.network.id, port.network);
      local.push({
        id: `node/${port.network.id}`,
        networkId: port.network.id,
        containerNetns: undefined,
        ifname: INGRESS_IFNAME,
        ip: port.ip,
        mac: port.mac,
        defaultRoute: false,
      });
    }
    // Encrypted networks: entries point at the encryption backend, and none exist until it
    // is ready (fail closed: nothing of an encrypted network may leave in plaintext).
    const enc = this.encryption;
    const remote = this.endpoints
      .remote()
      .filter((f) => networks.has(f.networkId) && f.node !== this.config.nodeName && f.vtep !== "")
      .filter((f) => !networks.get(f.networkId)?.encrypted || enc?.ready === true)
      .map((f) => ({
        networkId: f.networkId,
        ip: f.ip,
        mac: f.mac,
        vtep: networks.get(f.networkId)?.encrypted && enc !== undefined ? enc.fdbDestination(f.vtep) : f.vtep,
      }));
    return { networks: [...networks.values()], local, remote };
  }

  /** Gateway-bridge ports: one per container on at least one non-internal network. */
  desiredGateway(): GatewayPort[] {
    return this.store
      .all()
      .filter((c) => c.gatewayIp !== undefined)
      .map((c) => ({
        containerId: c.id,
        netns: c.netns,
        ip: c.gatewayIp ?? "",
        mtu: Math.min(this.underlayMtu, ...c.endpoints.map((e) => e.network.mtu)),
      }));
  }

  /**
   * This node's own port on the ingress network (Docker's ingress-sbox endpoint), once the
   * managers gave it an address: the routing mesh reaches every task through it.
   */
  private nodeIngressPort(): { network: EndpointNetwork; ip: string; mac: string } | undefined {
    const ep = this.intent?.ingressEndpoint;
    const net = ep === undefined ? undefined : this.intent?.networks.get(ep.networkId);
    if (ep === undefined || net === undefined) return undefined;
    const spec = networkSpecFor(net, ep.ip, this.intent?.cluster?.dataPathPort ?? DEFAULT_VXLAN_PORT);
    return { network: this.endpointNetwork(spec), ip: ep.ip, mac: macFromIpv4(parseIpv4(ep.ip) ?? 0) };
  }

  /** Publishes (or withdraws) the node's ingress port so other nodes can reach it. */
  private async publishNodePort(): Promise<void> {
    const port = this.nodeIngressPort();
    const key = port === undefined ? undefined : `node-${this.config.nodeName}/${port.network.id}`;
    if (this.publishedNodePort !== undefined && this.publishedNodePort.key !== key) {
      this.endpoints.withdraw(this.publishedNodePort.networkId, this.publishedNodePort.key);
      this.publishedNodePort = undefined;
    }
    if (port === undefined || key === undefined || this.publishedNodePort !== undefined) return;
    await this.endpoints.joinNetwork(port.network.id);
    this.endpoints.publish({
      networkId: port.network.id,
      key,
      ip: port.ip,
      mac: port.mac,
      vtep: this.config.advertiseAddr ?? "",
      node: this.config.nodeName,
      container: "",
      aliases: [],
      serviceId: "",
    });
    this.publishedNodePort = { key, networkId: port.network.id };
  }

  /** Brings the kernel to the records', the intent's and the endpoint table's state; serialized. */
  reconcile(): Promise<void> {
    // A run that has not started yet reads the state when it starts, so it already
    // covers this call: bursts of gossip events cost one pass, not one each.
    if (this.queuedReconcile !== undefined) return this.queuedReconcile;
    const run = this.kernelQueue.then(async () => {
      this.queuedReconcile = undefined;
      await this.publishNodePort();
      await this.syncEncryption();
      await this.overlay.reconcile(this.desiredOverlay());
      const gatewayPorts = this.desiredGateway();
      await this.gateway.reconcile(gatewayPorts);
      const facts = this.endpoints.all();
      const containers = this.store.all();
      await this.nodeMesh.apply(nodeMeshState(this.intent, facts, containers, gatewayPorts.length > 0));
      await this.applyContainerMeshes(facts, containers);
    });
    this.queuedReconcile = run;
    this.kernelQueue = run.catch(() => undefined);
    return run;
  }

  /** The encryption backend follows the encrypted networks with a local endpoint and their peers. */
  private async syncEncryption(): Promise<void> {
    const enc = this.encryption;
    if (enc === undefined) return;
    const encrypted = new Map<string, number>();
    for (const c of this.store.all()) {
      for (const ep of c.endpoints) if (ep.network.encrypted) encrypted.set(ep.network.id, ep.network.vni);
    }
    const peers = new Map<string, string>();
    for (const f of this.endpoints.remote()) {
      if (encrypted.has(f.networkId) && f.vtep !== "") peers.set(f.node, f.vtep);
    }
    await enc.sync(
      [...encrypted.values()],
      [...peers].map(([nodeName, underlayAddr]) => ({ nodeName, underlayAddr })),
      this.intent?.dataKeys,
    );
  }

  /** Service VIPs inside each container that has some; tables of gone containers are dropped. */
  private async applyContainerMeshes(facts: EndpointFact[], containers: ContainerRecord[]): Promise<void> {
    const live = new Set<string>();
    for (const c of containers) {
      const state = containerMeshState(this.intent, facts, c);
      if (state === undefined) continue;
      live.add(c.id);
      let mesh = this.containerMeshes.get(c.id);
      if (mesh === undefined) {
        mesh = new Mesh(this.ex, { netns: c.netns, config: { forwarding: false } });
        this.containerMeshes.set(c.id, mesh);
      }
      await mesh.apply(state);
    }
    for (const id of this.containerMeshes.keys()) if (!live.has(id)) this.containerMeshes.delete(id);
  }

  /**
   * Host ports for `run -p`: a requested one must be free on this node (no other
   * container's mapping, no published port of a service); 0 takes a free ephemeral one.
   */
  private allocatePorts(wanted: readonly PortMapping[]): PortMapping[] {
    const owners = new Map<string, string>();
    for (const c of this.store.all())
      for (const p of c.ports ?? []) owners.set(`${p.protocol}/${p.hostPort}`, `container ${c.name}`);
    for (const s of this.intent?.services.values() ?? []) {
      for (const p of s.ports) owners.set(`${p.protocol}/${p.publishedPort}`, `service ${s.name}`);
    }
    const out: PortMapping[] = [];
    for (const m of wanted) {
      const hostPort = m.hostPort === 0 ? freeEphemeralPort(new Set(owners.keys()), m.protocol) : m.hostPort;
      const key = `${m.protocol}/${hostPort}`;
      const owner = owners.get(key);
      if (owner !== undefined) {
        throw new SwarmnetError(
          ErrorCode.PortInUse,
          `host port ${hostPort}/${m.protocol} is already in use by ${owner}`,
        );
      }
      owners.set(key, "this container");
      out.push({ ...m, hostPort });
    }
    return out;
  }

  /** The lowest free gateway-bridge address on this node. */
  private allocateGatewayIp(): string {
    const used = new Set(this.store.all().map((c) => c.gatewayIp));
    for (let i = 0; ; i++) if (!used.has(gatewayAddress(i))) return gatewayAddress(i);
  }

  private reconcileFailed(err: unknown): void {
    this.log.error({ err: errorMessage(err) }, "overlay reconcile failed; the next resync retries");
  }

  /** Periodic repair: process liveness and kernel drift. */
  async resync(): Promise<void> {
    for (const c of this.store.all()) {
      if (c.status === "running" && !this.runtime.isRunning(c)) this.markExited(c, -1);
    }
    await this.reconcile().catch((err: unknown) => this.reconcileFailed(err));
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const run = this.ops.then(op);
    this.ops = run.catch(() => undefined);
    return run;
  }

  private markExited(c: ContainerRecord, code: number): void {
    if (this.store.get(c.id) === undefined) return;
    c.status = "exited";
    c.exitCode = code;
    c.pid = 0;
    this.store.put(c);
  }

  containers(all: boolean): ContainerRecord[] {
    return this.store.all().filter((c) => all || c.status === "running");
  }

  find(ref: string): ContainerRecord {
    const c = findContainer(this.store.all(), ref);
    if (c === undefined) throw new SwarmnetError(ErrorCode.NotFound, `no such container: ${ref}`);
    return c;
  }

  run(options: RunOptions): Promise<ContainerRecord> {
    return this.serialize(() => this.runNow(options));
  }

  private async runNow(o: RunOptions): Promise<ContainerRecord> {
    if (o.command.length === 0)
      throw new SwarmnetError(ErrorCode.InvalidArgument, "run needs a command after --");
    const id = o.id ?? randomBytes(32).toString("hex");
    const name = o.name ?? `c-${id.slice(0, 8)}`;
    if (!CONTAINER_NAME.test(name)) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid container name ${JSON.stringify(name)}`);
    }
    if (this.store.all().some((c) => c.name === name)) {
      throw new SwarmnetError(ErrorCode.AlreadyExists, `container name ${name} is already in use`);
    }
    const c: ContainerRecord = {
      id,
      name,
      netns: `${this.config.netnsPrefix}c-${id.slice(0, 12)}`,
      command: o.command,
      env: { SWARMNET_NODE: this.config.nodeName, SWARMNET_TASK_NAME: name, ...o.env },
      status: "created",
      pid: 0,
      exitCode: 0,
      createdAt: new Date().toISOString(),
      endpoints: [],
      labels: o.labels ?? {},
      ports: this.allocatePorts(o.ports ?? []),
    };
    const attached: Attachment[] = [];
    let created = false;
    try {
      for (const pre of o.attachments ?? [])
        c.endpoints.push(this.endpointRecord(c, pre.attachment, pre.aliases));
      for (const n of o.networks) {
        const a = await this.attach(c, n);
        attached.push(a);
        c.endpoints.push(this.endpointRecord(c, a, n.aliases));
      }
      // Egress (and the node's way in for host-mode ports) unless every network is internal.
      const published = (c.ports ?? []).length > 0;
      if (
        published ||
        (c.endpoints.length === 0 ? isTask(c) : c.endpoints.some((e) => !e.network.internal))
      ) {
        c.gatewayIp = this.allocateGatewayIp();
      }
      await this.runtime.create(c);
      created = true;
      this.store.put(c);
      await this.reconcile();
      await this.publishContainer(c);
      if (o.detach) this.startProcess(c);
      return c;
    } catch (err) {
      this.store.delete(c.id);
      if (created) await this.runtime.remove(c).catch(() => undefined);
      for (const a of attached) await this.release(a.network.id, c);
      await this.reconcile().catch(() => undefined);
      throw err;
    }
  }

  private async attach(c: ContainerRecord, n: AttachOptions): Promise<Attachment> {
    if (n.ip !== undefined && parseIpv4(n.ip) === undefined) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid IP address ${JSON.stringify(n.ip)}`);
    }
    const a = await this.attacher.attach({
      network: n.network,
      containerId: c.id,
      containerName: c.name,
      ip: n.ip,
    });
    if (a.network.driver !== "overlay") {
      await this.attacher.release(a.network.id, c.id);
      throw new SwarmnetError(
        ErrorCode.Unsupported,
        `network ${a.network.name} uses driver ${a.network.driver}; containers can join overlay networks here`,
      );
    }
    if (c.endpoints.some((e) => e.network.id === a.network.id)) {
      throw new SwarmnetError(
        ErrorCode.AlreadyExists,
        `container ${c.name} is already on network ${a.network.name}`,
      );
    }
    return a;
  }

  /** The overlay driver's view of a network: MTU from its option or the underlay − 50. */
  private endpointNetwork(net: NetworkSpec): EndpointNetwork {
    const mtuOption = MTU_OPTIONS.map((k) => net.options[k]).find((v) => v !== undefined);
    const encrypted = this.intent?.networks.get(net.id)?.encrypted ?? false;
    const defaultMtu =
      encrypted && this.encryption !== undefined
        ? this.encryption.overlayMtu(this.underlayMtu)
        : this.underlayMtu - VXLAN_OVERHEAD_BYTES;
    return {
      id: net.id,
      name: net.name,
      vni: net.vni,
      subnet: net.subnet,
      gateway: net.gateway,
      encrypted,
      mtu: mtuOption !== undefined ? Number(mtuOption) : defaultMtu,
      dstPort: Number(net.options[OPT_DATA_PATH_PORT] ?? DEFAULT_VXLAN_PORT),
      internal: net.internal,
    };
  }

  private endpointRecord(c: ContainerRecord, a: Attachment, aliases: string[]): EndpointRecord {
    const network = this.endpointNetwork(a.network);
    return {
      network,
      ip: a.ip,
      prefixLength: parseCidr(network.subnet)?.prefix ?? 24,
      mac: macFromIpv4(parseIpv4(a.ip) ?? 0),
      aliases,
      ifname: nextIfname(c),
    };
  }

  private async publishContainer(c: ContainerRecord): Promise<void> {
    for (const ep of c.endpoints) {
      await this.endpoints.joinNetwork(ep.network.id);
      this.endpoints.publish(this.fact(c, ep));
    }
  }

  private startProcess(c: ContainerRecord): void {
    c.pid = this.runtime.start(c, (code) => {
      const current = this.store.get(c.id);
      if (current === undefined || current.pid !== c.pid) return;
      this.markExited(current, code);
      for (const l of this.exitListeners) l(current, code);
    });
    c.status = "running";
    this.store.put(c);
  }

  /** Records the exit of a process the CLI ran attached to its terminal. */
  exited(ref: string, code: number): ContainerRecord {
    const c = this.find(ref);
    this.markExited(c, code);
    return c;
  }

  stopContainer(ref: string, graceMs: number): Promise<ContainerRecord> {
    return this.serialize(async () => {
      const c = this.find(ref);
      await this.runtime.stop(c, graceMs);
      this.markExited(c, c.status === "running" ? 143 : c.exitCode);
      return c;
    });
  }

  remove(ref: string, force: boolean): Promise<ContainerRecord> {
    return this.serialize(async () => {
      const c = this.find(ref);
      if (c.status === "running" && this.runtime.isRunning(c) && !force) {
        throw new SwarmnetError(
          ErrorCode.Conflict,
          `container ${c.name} is running: stop it first or use --force`,
        );
      }
      for (const ep of c.endpoints) this.endpoints.withdraw(ep.network.id, `${c.id}/${ep.network.id}`);
      // Processes first, then the endpoints (deleted synchronously by the drivers), then the
      // namespace: deleting a namespace removes its veths only later, asynchronously, and a
      // reconcile in between would chase devices that are half gone.
      await this.runtime.stop(c, 0);
      const detached: ContainerRecord = { ...c, endpoints: [], gatewayIp: undefined };
      this.store.put(detached);
      await this.reconcile();
      await this.runtime.remove(c);
      this.store.delete(c.id);
      if (!isTask(c)) {
        for (const ep of c.endpoints) await this.release(ep.network.id, c);
      }
      await this.leaveUnusedNetworks(c.endpoints.map((e) => e.network.id));
      return c;
    });
  }

  /** `network connect`: an address from the managers' IPAM, then the endpoint, on the fly. */
  connect(ref: string, n: AttachOptions): Promise<ContainerRecord> {
    return this.serialize(async () => {
      const c = this.find(ref);
      await this.addEndpoint(c, await this.attach(c, n), n.aliases, true);
      return c;
    });
  }

  /** A task joins a network with the address its scheduler already allocated, in place. */
  connectAttached(ref: string, a: Attachment, aliases: string[]): Promise<ContainerRecord> {
    return this.serialize(async () => {
      const c = this.find(ref);
      await this.addEndpoint(c, a, aliases, false);
      return c;
    });
  }

  private async addEndpoint(
    c: ContainerRecord,
    a: Attachment,
    aliases: string[],
    release: boolean,
  ): Promise<void> {
    const ep = this.endpointRecord(c, a, aliases);
    c.endpoints.push(ep);
    this.store.put(c);
    try {
      await this.reconcile();
    } catch (err) {
      c.endpoints.pop();
      this.store.put(c);
      if (release) await this.release(a.network.id, c);
      await this.reconcile().catch(() => undefined);
      throw err;
    }
    await this.endpoints.joinNetwork(ep.network.id);
    this.endpoints.publish(this.fact(c, ep));
  }

  disconnect(ref: string, network: string, force: boolean): Promise<ContainerRecord> {
    return this.serialize(async () => {
      const c = this.find(ref);
      const ep = c.endpoints.find((e) => e.network.name === network || e.network.id === network);
      if (ep === undefined) {
        if (force) return c;
        throw new SwarmnetError(
          ErrorCode.NotFound,
          `container ${c.name} is not connected to network ${network}`,
        );
      }
      this.endpoints.withdraw(ep.network.id, `${c.id}/${ep.network.id}`);
      c.endpoints = c.endpoints.filter((e) => e !== ep);
      this.store.put(c);
      await this.reconcile();
      if (!isTask(c)) await this.release(ep.network.id, c);
      await this.leaveUnusedNetworks([ep.network.id]);
      return c;
    });
  }

  /**
   * Gives a container's address back to the managers' IPAM. A failure is logged, not
   * raised: the container is gone by then, and the managers free addresses of departed
   * nodes' containers; the log names what stays allocated until then.
   */
  private async release(networkId: string, c: ContainerRecord): Promise<void> {
    try {
      await this.attacher.release(networkId, c.id);
    } catch (err) {
      this.log.warn(
        { err: errorMessage(err), network: networkId, container: c.name },
        "address not released",
      );
    }
  }

  private async leaveUnusedNetworks(networkIds: string[]): Promise<void> {
    // The node's own ingress port keeps the ingress network's table joined: the routing
    // mesh needs its backends even when no local task is left.
    const inUse = new Set(this.store.all().flatMap((c) => c.endpoints.map((e) => e.network.id)));
    if (this.publishedNodePort !== undefined) inUse.add(this.publishedNodePort.networkId);
    for (const id of networkIds) if (!inUse.has(id)) await this.endpoints.leaveNetwork(id);
  }
}

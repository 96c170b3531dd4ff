/**
 * Container lifecycle on this node: run, stop, remove, connect and disconnect, for
 * standalone containers (addresses from the managers' IPAM, or none for host/none) and
 * service tasks (addresses the scheduler already allocated). It decides and records; the
 * kernel follows through the reconcilers, which each operation awaits (`kernel.sync`) so
 * a container is wired when `run` returns — and a failure rolls back what the operation
 * made (record, namespace, addresses) before it is reported.
 *
 * Operations on containers are serialized (two CLI calls never race on one record).
 * Records are immutable values; every change puts a new one into the store.
 *
 * Networks: a name that is one of the node's own networks (host, none, the default
 * bridge, user-defined bridge/macvlan/ipvlan) resolves here, with an address from the
 * node's IPAM (local-ipam.ts); any other goes to the managers (`NetworkAttacher`). A
 * standalone container given no network lands on the default bridge, as in Docker. The
 * network's driver must run on this node (the registry says, with a clear error). Host
 * and none take the whole sandbox: such a container is on no other network, as in Docker
 * (Docker's own messages are used for the refusals).
 *
 * `run` marks its steps in the trace ring (received, attached, created, synced, started,
 * and ready once a task's process listens on its ports; keyed by the container id) for
 * `bench lab-e2e`'s breakdown of a run's time.
 */
import { randomBytes } from "node:crypto";
import type { Clock, TimerHandle } from "../../common/clock.js";
import { RealClock } from "../../common/clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { parseCidr, parseIpv4 } from "../../common/net-addr.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { trace } from "../../common/trace-ring.js";
import type { Attachment, NetworkAttacher } from "../attachments.js";
import type { IntentState, NetworkIntent } from "../dispatcher/index.js";
import type { DriverNetwork, NetworkDriver } from "../drivers/driver.js";
import type { DriverRegistry } from "../drivers/registry.js";
import { allocateLocalAddress } from "../local-ipam.js";
import { DEFAULT_BRIDGE, type LocalNetworks } from "../local-networks.js";
import { HOST } from "../drivers/host/host-driver.js";
import { checkJoinable, conflict, ERR } from "./network-modes.js";
import { gatewayAddress } from "../gwbridge/index.js";
import { findContainer, isTask, nextIfname, type ContainerRecord, type EndpointRecord } from "./container.js";
import type { ContainerStore } from "./container-store.js";
import { allocateHostPorts } from "./host-ports.js";
import type { PortMapping } from "./port-spec.js";
import { READINESS_DEFAULTS, type ReadyPort } from "./readiness.js";
import type { SandboxRuntime } from "./runtime.js";

export interface AttachOptions {
  network: string;
  ip: string | undefined;
  aliases: string[];
}

export interface RunOptions {
  name: string | undefined;
  /** Networks to join by name (standalone containers). */
  networks: AttachOptions[];
  command: string[];
  env: Record<string, string>;
  detach: boolean;
  /** A fixed id (a service task's), instead of a random one. */
  id?: string;
  /** Attachments the managers already made (a service task's networks, with its IPs). */
  attachments?: TaskAttachment[];
  /** Free-form labels kept with the record (service and task ids of a task). */
  labels?: Record<string, string>;
  /** `run -p`: node ports forwarded to the container (host port 0: a free one). */
  ports?: PortMapping[];
  /** A task's target ports: it is no backend until its process listens on them (readiness.ts). */
  readyPorts?: ReadyPort[];
}

/** A network a service task joins: the scheduler's address, and its service's VIP there. */
export interface TaskAttachment {
  attachment: Attachment;
  aliases: string[];
  /** The service's VIP on the network (endpoint mode vip), for the task's DNS facts. */
  vip?: string;
}

export interface ContainerDeps {
  store: ContainerStore;
  runtime: SandboxRuntime;
  drivers: () => DriverRegistry;
  attacher: () => NetworkAttacher;
  intent: () => IntentState | undefined;
  /** The node's own networks (host, none, bridge, user-defined local ones). */
  localNetworks: LocalNetworks;
  /** Resolves once the kernel followed the store (every reconciler passed after the call). */
  kernel: { sync(): Promise<void> };
  nodeName: string;
  netnsPrefix: string;
  log: Logger;
  clock?: Clock;
  /** How often process liveness is checked (a container whose process died is marked exited). */
  livenessIntervalMs: number;
  /** Readiness polling (readiness.ts); READINESS_DEFAULTS when left out. */
  readiness?: typeof READINESS_DEFAULTS;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** A network a container is about to join: resolved, its driver found, its address known. */
interface Joining {
  net: DriverNetwork;
  driver: NetworkDriver;
  ip: string;
  aliases: string[];
  vip?: string;
  /** Given back to the managers if the operation fails (standalone containers only). */
  release: boolean;
}

export class Containers {
  private readonly ops = new SerialQueue();
  private readonly exitListeners: ((c: ContainerRecord, code: number) => void)[] = [];
  private readonly clock: Clock;
  private liveness: TimerHandle | undefined;
  private readinessTimer: TimerHandle | undefined;
  /** When each waiting container's process started (this agent's clock; a restart restarts it). */
  private readonly waitingSince = new Map<string, number>();
  private readonly readiness: typeof READINESS_DEFAULTS;

  constructor(private readonly deps: ContainerDeps) {
    this.clock = deps.clock ?? new RealClock();
    this.readiness = deps.readiness ?? READINESS_DEFAULTS;
  }

  /** Keeps records whose namespace survived a restart; marks dead processes exited. */
  async adopt(namespaces: readonly string[]): Promise<void> {
    for (const c of this.deps.store.all()) {
      if (!(await this.deps.runtime.exists(c, namespaces))) {
        this.deps.log.warn({ container: c.name }, "container namespace is gone; forgetting it");
        this.deps.store.delete(c.id);
      }
    }
    this.checkLiveness();
    this.liveness = this.clock.setInterval(() => this.checkLiveness(), this.deps.livenessIntervalMs);
    for (const c of this.deps.store.all()) if (c.waitingFor !== undefined) this.waitForReadiness(c);
  }

  async stop(): Promise<void> {
    this.liveness?.cancel();
    this.readinessTimer?.cancel();
    this.readinessTimer = undefined;
    await this.ops.idle();
  }

  onExit(listener: (c: ContainerRecord, code: number) => void): void {
    this.exitListeners.push(listener);
  }

  list(all: boolean): readonly ContainerRecord[] {
    return this.deps.store.all().filter((c) => all || c.status === "running");
  }

  find(ref: string): ContainerRecord {
    const c = findContainer(this.deps.store.all(), ref);
    if (c === undefined) throw new SwarmnetError(ErrorCode.NotFound, `no such container: ${ref}`);
    return c;
  }

  run(o: RunOptions): Promise<ContainerRecord> {
    return this.ops.run(() => this.runNow(o));
  }

  /** Records the exit of a process the CLI ran attached to its terminal. */
  exited(ref: string, code: number): ContainerRecord {
    return this.markExited(this.find(ref), code);
  }

  stopContainer(ref: string, graceMs: number): Promise<ContainerRecord> {
    return this.ops.run(async () => {
      const c = this.find(ref);
      await this.deps.runtime.stop(c, graceMs);
      return this.markExited(c, c.status === "running" ? 143 : c.exitCode);
    });
  }

  remove(ref: string, force: boolean): Promise<ContainerRecord> {
    return this.ops.run(async () => {
      const c = this.find(ref);
      if (c.status === "running" && this.deps.runtime.isRunning(c) && !force) {
        throw conflict(`container ${c.name} is running: stop it first or use --force`);
      }
      // Processes first, then the endpoints (removed synchronously by the reconcilers),
      // then the namespace: deleting a namespace removes its veths only later,
      // asynchronously, and a pass in between would chase devices that are half gone.
      await this.deps.runtime.stop(c, 0);
      this.deps.store.put({ ...c, endpoints: [], gatewayIp: undefined, ports: [] });
      await this.deps.kernel.sync();
      await this.deps.runtime.remove(c);
      this.deps.store.delete(c.id);
      if (!isTask(c)) for (const ep of c.endpoints) await this.release(ep.networkId, c);
      return c;
    });
  }

  /** `network connect`: an address from the managers' IPAM, then the endpoint, on the fly. */
  connect(ref: string, n: AttachOptions): Promise<ContainerRecord> {
    return this.ops.run(async () => {
      const c = this.find(ref);
      const joining = await this.resolve(c, n, false);
      return this.addEndpoint(c, joining);
    });
  }

  /** A task joins a network with the address its scheduler already allocated, in place. */
  connectAttached(ref: string, t: TaskAttachment): Promise<ContainerRecord> {
    return this.ops.run(async () => {
      const c = this.find(ref);
      return this.addEndpoint(c, this.attached(t));
    });
  }

  disconnect(ref: string, network: string, force: boolean): Promise<ContainerRecord> {
    return this.ops.run(async () => {
      const c = this.find(ref);
      const ep = c.endpoints.find((e) => e.networkName === network || e.networkId === network);
      if (ep === undefined) {
        if (force) return c;
        throw new SwarmnetError(
          ErrorCode.NotFound,
          `container ${c.name} is not connected to network ${network}`,
        );
      }
      if (ep.driver === HOST) throw conflict(ERR.hostNetwork);
      const next: ContainerRecord = { ...c, endpoints: c.endpoints.filter((e) => e !== ep) };
      this.deps.store.put(next);
      await this.deps.kernel.sync();
      if (!isTask(c)) await this.release(ep.networkId, c);
      return next;
    });
  }

  private async runNow(o: RunOptions): Promise<ContainerRecord> {
    if (o.command.length === 0)
      throw new SwarmnetError(ErrorCode.InvalidArgument, "run needs a command after --");
    const id = o.id ?? randomBytes(32).toString("hex");
    const name = o.name ?? `c-${id.slice(0, 8)}`;
    if (!CONTAINER_NAME.test(name)) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid container name ${JSON.stringify(name)}`);
    }
    if (this.deps.store.all().some((c) => c.name === name)) {
      throw new SwarmnetError(ErrorCode.AlreadyExists, `container name ${name} is already in use`);
    }
    trace.mark("run.received", id, { name });
    const draft: ContainerRecord = {
      id,
      name,
      netns: `${this.deps.netnsPrefix}c-${id.slice(0, 12)}`,
      command: o.command,
      env: { SWARMNET_NODE: this.deps.nodeName, SWARMNET_TASK_NAME: name, ...o.env },
      status: "created",
      pid: 0,
      exitCode: 0,
      createdAt: new Date().toISOString(),
      endpoints: [],
      labels: o.labels ?? {},
    };
    const joining: Joining[] = [];
    let created = false;
    let c = draft;
    try {
      for (const pre of o.attachments ?? []) joining.push(this.attached(pre));
      // Docker: a container given no network is on the default bridge.
      const networks =
        o.networks.length === 0 && joining.length === 0 && !isTask(draft)
          ? [{ network: DEFAULT_BRIDGE, ip: undefined, aliases: [] }]
          : o.networks;
      for (const n of networks) joining.push(await this.resolve(draft, n, true, joining));
      // A cluster network is checked on this node when a container first joins it here
      // (a local one was at `network create`): a macvlan parent must exist on this node.
      for (const j of joining) if (j.net.intent.scope === "swarm") await j.driver.createNetwork(j.net);
      trace.mark("run.attached", id);
      const kind = joining.find((j) => j.driver.sandbox !== "own")?.driver.sandbox ?? "own";
      const endpoints: EndpointRecord[] = [];
      for (const j of joining) endpoints.push(this.endpointRecord({ ...draft, endpoints }, j));
      // Docker discards published ports on the host network (the node's ports are the
      // container's own) and on none (nothing to forward to).
      const ports =
        kind === "own" ? allocateHostPorts(o.ports ?? [], this.deps.store.all(), this.deps.intent()) : [];
      for (const p of ports) await this.checkNotListening(p);
      c = {
        ...draft,
        netns: kind === "host" ? undefined : draft.netns,
        endpoints,
        ports,
        gatewayIp: this.needsGateway(draft, joining, ports) ? this.allocateGatewayIp() : undefined,
      };
      await this.deps.runtime.create(c);
      created = true;
      // Marked before the record goes in: putting it starts the reconcilers' passes.
      trace.mark("run.created", id);
      this.deps.store.put(c);
      await this.deps.kernel.sync();
      trace.mark("run.synced", id);
      if (o.detach) c = await this.startProcess(c, o.readyPorts ?? []);
      trace.mark("run.started", id);
      return c;
    } catch (err) {
      this.deps.store.delete(c.id);
      if (created) await this.deps.runtime.remove(c).catch(() => undefined);
      for (const j of joining) if (j.release) await this.release(j.net.intent.id, c);
      await this.deps.kernel.sync().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Egress through the node's gateway bridge (and the node's way in for `-p` and
   * host-mode ports) unless every network keeps the container in; a task on no network
   * still gets one, so its host-mode ports reach it. Never on a local network: it is the
   * container's own way out (a bridge's gateway, macvlan's), or it keeps it in on
   * purpose (`--internal`).
   */
  private needsGateway(
    c: ContainerRecord,
    joining: readonly Joining[],
    ports: readonly PortMapping[],
  ): boolean {
    if (joining.some((j) => j.driver.sandbox !== "own" || j.net.intent.scope === "local")) return false;
    if (ports.length > 0) return true;
    if (joining.length === 0) return isTask(c);
    return joining.some((j) => j.driver.join(j.net).gatewayBridge);
  }

  /**
   * A network by name for container `c`, checked against what `c` is already on (its
   * endpoints and, while `run` is still building it, `pending`).
   */
  private async resolve(
    c: ContainerRecord,
    n: AttachOptions,
    building: boolean,
    pending: readonly Joining[] = [],
  ): Promise<Joining> {
    const current = [...c.endpoints.map((e) => e.driver), ...pending.map((j) => j.driver.name)];
    const local = this.deps.localNetworks.find(n.network);
    if (local !== undefined) return this.resolveLocal(c, n, local, current, building, pending);
    if (n.ip !== undefined && parseIpv4(n.ip) === undefined) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid IP address ${JSON.stringify(n.ip)}`);
    }
    const a = await this.deps
      .attacher()
      .attach({ network: n.network, containerId: c.id, containerName: c.name, ip: n.ip });
    try {
      const driver = this.deps.drivers().get(a.intent.driver, a.intent.name);
      checkJoinable(current, driver, building);
      const on = (id: string) => id === a.intent.id;
      if (c.endpoints.some((e) => on(e.networkId)) || pending.some((j) => on(j.net.intent.id))) {
        throw new SwarmnetError(
          ErrorCode.AlreadyExists,
          `container ${c.name} is already on network ${a.intent.name}`,
        );
      }
      return { net: a, driver, ip: a.ip, aliases: n.aliases, release: true };
    } catch (err) {
      await this.release(a.intent.id, c);
      throw err;
    }
  }

  /** One of the node's own networks: checked here, its address from the node's IPAM. */
  private resolveLocal(
    c: ContainerRecord,
    n: AttachOptions,
    intent: NetworkIntent,
    current: readonly string[],
    building: boolean,
    pending: readonly Joining[],
  ): Joining {
    const driver = this.deps.drivers().get(intent.driver, intent.name);
    checkJoinable(current, driver, building);
    if (this.deps.localNetworks.isPredefined(intent)) {
      if (n.ip !== undefined) throw new SwarmnetError(ErrorCode.InvalidArgument, ERR.ipOnPredefined);
      if (n.aliases.length > 0) throw new SwarmnetError(ErrorCode.InvalidArgument, ERR.aliasOnPredefined);
    }
    if (
      c.endpoints.some((e) => e.networkId === intent.id) ||
      pending.some((j) => j.net.intent.id === intent.id)
    ) {
      throw new SwarmnetError(
        ErrorCode.AlreadyExists,
        `container ${c.name} is already on network ${intent.name}`,
      );
    }
    const config = intent.ipam.configs[0];
    const net = { intent, subnet: config?.subnet ?? "", gateway: config?.gateway ?? "", dataPathPort: 0 };
    if (!driver.needsAddress) return { net, driver, ip: "", aliases: [], release: false };
    const used = new Set(
      this.deps.store
        .all()
        .flatMap((x) => x.endpoints)
        .filter((e) => e.networkId === intent.id)
        .map((e) => e.ip),
    );
    const ip = allocateLocalAddress(intent, used, n.ip);
    return { net, driver, ip, aliases: n.aliases, release: false };
  }

  /** A task's pre-allocated attachment, with its driver. */
  private attached(t: TaskAttachment): Joining {
    const a = t.attachment;
    return {
      net: a,
      driver: this.deps.drivers().get(a.intent.driver, a.intent.name),
      ip: a.ip,
      aliases: t.aliases,
      ...(t.vip === undefined ? {} : { vip: t.vip }),
      release: false,
    };
  }

  private endpointRecord(c: ContainerRecord, j: Joining): EndpointRecord {
    // Host and none give the container no interface of its own.
    const ifname = j.driver.sandbox === "own" ? nextIfname(c) : "";
    const ep = j.driver.createEndpoint(j.net, { containerId: c.id, ip: j.ip, ifname });
    const join = j.driver.join(j.net);
    return {
      networkId: j.net.intent.id,
      networkName: j.net.intent.name,
      driver: j.driver.name,
      ip: j.ip,
      prefixLength: parseCidr(j.net.subnet)?.prefix ?? 0,
      gateway: j.net.gateway,
      mac: ep.mac,
      mtu: ep.mtu,
      internal: j.net.intent.internal,
      aliases: j.aliases,
      ...(j.vip === undefined ? {} : { vip: j.vip }),
      ifname,
      driverData: ep.driverData,
      ...(join.ownGateway ? { ownGateway: true } : {}),
    };
  }

  private async addEndpoint(c: ContainerRecord, j: Joining): Promise<ContainerRecord> {
    await j.driver.createNetwork(j.net);
    const next: ContainerRecord = { ...c, endpoints: [...c.endpoints, this.endpointRecord(c, j)] };
    this.deps.store.put(next);
    try {
      await this.deps.kernel.sync();
      return next;
    } catch (err) {
      if (this.deps.store.get(c.id) !== undefined) this.deps.store.put({ ...next, endpoints: c.endpoints });
      if (j.release) await this.release(j.net.intent.id, c);
      await this.deps.kernel.sync().catch(() => undefined);
      throw err;
    }
  }

  private async startProcess(c: ContainerRecord, readyPorts: readonly ReadyPort[]): Promise<ContainerRecord> {
    const { pid, exited } = await this.deps.runtime.start(c);
    const running: ContainerRecord = {
      ...c,
      pid,
      status: "running",
      ...(readyPorts.length > 0 ? { waitingFor: readyPorts } : {}),
    };
    this.deps.store.put(running);
    // After the put: a process that ended at once is marked exited over "running", not under it.
    void exited.then((status) => {
      const code = status ?? 128;
      const current = this.deps.store.get(c.id);
      if (current === undefined || current.pid !== pid) return;
      const marked = this.markExited(current, code);
      for (const l of this.exitListeners) l(marked, code);
    });
    if (running.waitingFor !== undefined) this.waitForReadiness(running);
    return running;
  }

  /** Polls the container's sockets until its process listens on every port it waits for. */
  private waitForReadiness(c: ContainerRecord): void {
    this.waitingSince.set(c.id, this.clock.now());
    this.readinessTimer ??= this.clock.setInterval(() => this.checkReadiness(), this.readiness.pollMs);
  }

  private checkReadiness(): void {
    for (const [id, since] of this.waitingSince) {
      const c = this.deps.store.get(id);
      if (c?.status !== "running" || c.waitingFor === undefined) {
        this.waitingSince.delete(id);
        continue;
      }
      const left = this.deps.runtime.notListening(c, c.waitingFor);
      const late = this.clock.now() - since > this.readiness.timeoutMs;
      if (left.length > 0 && late) {
        this.deps.log.warn(
          { container: c.name, ports: left },
          `not listening on ${left.join(", ")} after ${this.readiness.timeoutMs / 1000} s; a backend anyway`,
        );
      }
      if (left.length === 0 || late) {
        const { waitingFor: _, ...ready } = c;
        trace.mark("run.ready", id);
        this.deps.store.put(ready);
        this.waitingSince.delete(id);
      } else if (left.length < c.waitingFor.length) this.deps.store.put({ ...c, waitingFor: left });
    }
    if (this.waitingSince.size === 0) {
      this.readinessTimer?.cancel();
      this.readinessTimer = undefined;
    }
  }

  private markExited(c: ContainerRecord, code: number): ContainerRecord {
    const current = this.deps.store.get(c.id);
    if (current === undefined) return c;
    const { waitingFor: _, ...settled } = current;
    const exited: ContainerRecord = { ...settled, status: "exited", exitCode: code, pid: 0 };
    this.deps.store.put(exited);
    return exited;
  }

  private checkLiveness(): void {
    for (const c of this.deps.store.all()) {
      if (c.status === "running" && !this.deps.runtime.isRunning(c)) this.markExited(c, -1);
    }
  }

  /**
   * A port a process of the node listens on (a host-network container, a program) would
   * shadow or be shadowed by the DNAT: refused, naming the node's host-network
   * containers as the likely holders.
   */
  private async checkNotListening(p: PortMapping): Promise<void> {
    if (!(await this.deps.runtime.listening(p.protocol, p.hostPort))) return;
    const host = this.deps.store.all().filter((c) => c.netns === undefined && c.status === "running");
    const holder =
      host.length === 0
        ? "a process of the node"
        : `a process of the node (host-network containers: ${host.map((c) => c.name).join(", ")})`;
    throw new SwarmnetError(
      ErrorCode.PortInUse,
      `host port ${p.hostPort}/${p.protocol} is already in use by ${holder}`,
    );
  }

  /** The lowest free gateway-bridge address on this node. */
  private allocateGatewayIp(): string {
    const used = new Set(this.deps.store.all().map((c) => c.gatewayIp));
    for (let i = 0; ; i++) if (!used.has(gatewayAddress(i))) return gatewayAddress(i);
  }

  /**
   * Gives a container's address back to the managers' IPAM. A failure is logged, not
   * raised: the container is gone by then, and the managers free addresses of departed
   * nodes' containers; the log names what stays allocated until then.
   */
  private async release(networkId: string, c: ContainerRecord): Promise<void> {
    // Addresses on the node's own networks are read from its containers: nothing to give back.
    if (this.deps.localNetworks.find(networkId) !== undefined) return;
    try {
      await this.deps.attacher().release(networkId, c.id);
    } catch (err) {
      this.deps.log.warn(
        { err: errorMessage(err), network: networkId, container: c.name },
        "address not released",
      );
    }
  }
}

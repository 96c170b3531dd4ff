/**
 * Services as the CLI sees them: create, list, inspect, update (scale, publish,
 * unpublish, network add/rm, update monitor), remove, and their tasks (`service ps`).
 * The intent side only — the leader's scheduler turns a service into tasks, agents run
 * them.
 *
 * Every change is one transaction that reads (and so guards) what it decides on — the
 * name index, the networks, every published port, the service and its tasks — and
 * writes the service, its port keys, VIPs and attachment records, and its tasks'
 * in-place updates together. A refused request writes nothing; two managers publishing
 * the same port concurrently both compute, one commits, the other recomputes and is
 * refused.
 *
 * Port and network changes reach running tasks in place (their records change, their
 * ids do not): `service publish` never restarts a task. Constraint changes are stored
 * only; the scheduler replaces the tasks whose node no longer satisfies them. Removing a
 * service frees its name, ports and VIPs at once and asks its tasks to shut down; the
 * scheduler forgets them once their agents have let go.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { newId } from "../cluster/ids.js";
import { notInitialised, resolveNetwork } from "../networks/network-service.js";
import { keys } from "../store/keys.js";
import type {
  ClusterRecord,
  NetworkRecord,
  NodeRecord,
  PortOwnerRecord,
  PortRecord,
  ServiceRecord,
  TaskRecord,
} from "../store/records.js";
import type { Store, StoreTxn } from "../store/store.js";
import { planPorts, hasIngressPort, type TakenPort } from "./ports.js";
import { storedConstraints } from "./placement-constraints.js";
import {
  applyConstraintChanges,
  parseServiceSpec,
  parseUpdateSpec,
  type CreateServiceInput,
  type UpdateServiceInput,
} from "./service-spec.js";
import { ServiceTxn } from "./service-txn.js";
import { serviceIntent, type ServiceDetail } from "./intent.js";
import { effectiveNetworks, isLive } from "./tasks.js";

/** A service as `service ls/inspect` show it: what agents see, plus task counts. */
export interface ServiceView extends ServiceDetail {
  /** The networks the user attached it to (`networks` adds the ingress network). */
  ownNetworks: string[];
  runningTasks: number;
  desiredTasks: number;
}

export interface TaskView extends TaskRecord {
  nodeName: string;
}

export interface ServiceControlOptions {
  newId: () => string;
  now: () => Date;
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

/** Resolves a service reference as Docker does: exact id, exact name, unique id prefix. */
export function resolveService<T extends { id: string; name: string }>(
  services: readonly T[],
  ref: string,
): T {
  const exact = services.find((s) => s.id === ref) ?? services.find((s) => s.name === ref);
  if (exact !== undefined) return exact;
  const byPrefix = ref === "" ? [] : services.filter((s) => s.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0] as T;
  if (byPrefix.length > 1) throw invalid(`service ${ref} is ambiguous (${byPrefix.length} matches)`);
  throw new SwarmnetError(ErrorCode.NotFound, `service ${ref} not found`);
}

/** A network a service may be on: swarm scope, not the ingress network. */
function serviceNetwork(all: readonly NetworkRecord[], ref: string): NetworkRecord {
  const n = resolveNetwork(all, ref);
  if (n.ingress) {
    throw invalid(
      `network ${n.name} is the ingress network: publish a port in ingress mode instead of attaching to it`,
    );
  }
  if (n.scope !== "swarm") {
    throw invalid(
      `network ${n.name} is ${n.scope}-scope (${n.driver}): services use swarm-scope (overlay) networks`,
    );
  }
  return n;
}

/** Every published port of other services, with their names for messages. */
async function takenPorts(tx: StoreTxn, except: string): Promise<TakenPort[]> {
  return (await tx.listEntries<PortOwnerRecord>(keys.portsPrefix))
    .filter((e) => e.value.serviceId !== except)
    .map((e) => {
      const [protocol = "", port = "0"] = e.key.slice(keys.portsPrefix.length).split("/");
      return { protocol, port: Number(port), holder: e.value.serviceName ?? e.value.serviceId };
    });
}

function putPorts(
  tx: StoreTxn,
  s: ServiceRecord,
  removed: readonly PortRecord[],
  added: readonly PortRecord[],
): void {
  for (const p of removed) tx.delete(keys.port(p.protocol, p.publishedPort));
  for (const p of added) {
    const owner: PortOwnerRecord = { serviceId: s.id, serviceName: s.name, mode: p.mode };
    tx.put(keys.port(p.protocol, p.publishedPort), owner);
  }
}

function view(
  s: ServiceRecord,
  networks: ReadonlyMap<string, NetworkRecord>,
  tasks: readonly TaskRecord[],
): ServiceView {
  const live = tasks.filter(isLive);
  return {
    ...serviceIntent(s, networks),
    ownNetworks: [...s.networks],
    runningTasks: live.filter((t) => t.state === "running").length,
    desiredTasks: s.mode === "global" ? live.length : s.replicas,
  };
}

export class ServiceControl {
  private readonly opts: ServiceControlOptions;

  constructor(
    private readonly store: Store,
    opts: Partial<ServiceControlOptions> = {},
  ) {
    this.opts = { newId, now: () => new Date(), ...opts };
  }

  async create(input: CreateServiceInput): Promise<ServiceView> {
    const spec = parseServiceSpec(input);
    const id = this.opts.newId();
    const at = this.opts.now().toISOString();
    const { result } = await this.store.transact(async (tx) => {
      if ((await tx.get<ClusterRecord>(keys.cluster)) === undefined) throw notInitialised();
      if (await tx.exists(keys.serviceName(spec.name))) {
        throw new SwarmnetError(ErrorCode.AlreadyExists, `service with name ${spec.name} already exists`);
      }
      const networks = await tx.list<NetworkRecord>(keys.networksPrefix);
      const own = spec.networks.map((ref) => serviceNetwork(networks, ref).id);
      const dup = own.find((n, i) => own.indexOf(n) !== i);
      if (dup !== undefined) throw invalid(`network ${dup} is given twice (--network)`);
      const plan = planPorts(spec.name, [], spec.ports, [], await takenPorts(tx, id), spec.endpointMode);
      const ingress = networks.find((n) => n.ingress);
      if (hasIngressPort(plan.ports) && ingress === undefined) {
        throw invalid("there is no ingress network: publish with mode=host, or create one with --ingress");
      }
      const draft: ServiceRecord = {
        id,
        name: spec.name,
        createdAt: at,
        updatedAt: at,
        version: 1,
        mode: spec.mode,
        replicas: spec.replicas,
        endpointMode: spec.endpointMode,
        command: spec.command,
        env: spec.env,
        networks: own,
        ports: plan.ports,
        vips: [],
        updateMonitorMs: spec.updateMonitorMs,
        ...(spec.constraints.length > 0 ? { constraints: spec.constraints } : {}),
      };
      const st = new ServiceTxn(tx);
      const vips = await st.setServiceNetworks(draft, [], effectiveNetworks(draft, ingress?.id));
      const record: ServiceRecord = { ...draft, vips };
      putPorts(tx, record, [], plan.added);
      tx.put(keys.service(id), record);
      tx.putString(keys.serviceName(record.name), id);
      return record;
    });
    return this.viewOf(result);
  }

  async update(input: UpdateServiceInput): Promise<ServiceView> {
    const spec = parseUpdateSpec(input);
    const target = resolveService(await this.store.list<ServiceRecord>(keys.servicesPrefix), spec.service);
    const at = this.opts.now().toISOString();
    const { result } = await this.store.transact(async (tx) => {
      const s = await tx.get<ServiceRecord>(keys.service(target.id));
      if (s === undefined) throw new SwarmnetError(ErrorCode.NotFound, `service ${spec.service} not found`);
      if (spec.replicas !== undefined && s.mode === "global") {
        throw invalid(`service ${s.name} is global: replicas can only be set in replicated mode`);
      }
      const networks = await tx.list<NetworkRecord>(keys.networksPrefix);
      let own = [...s.networks];
      for (const ref of spec.networkRm) {
        const n = resolveNetwork(networks, ref);
        if (!own.includes(n.id)) throw invalid(`service ${s.name} is not on network ${n.name}`);
        own = own.filter((id) => id !== n.id);
      }
      for (const ref of spec.networkAdd) {
        const n = serviceNetwork(networks, ref);
        if (own.includes(n.id)) throw invalid(`service ${s.name} is already on network ${n.name}`);
        own.push(n.id);
      }
      const plan = planPorts(
        s.name,
        s.ports,
        spec.publishAdd,
        spec.publishRm,
        await takenPorts(tx, s.id),
        s.endpointMode,
      );
      const ingress = networks.find((n) => n.ingress);
      if (hasIngressPort(plan.ports) && ingress === undefined) {
        throw invalid("there is no ingress network: publish with mode=host, or create one with --ingress");
      }
      const constraints = applyConstraintChanges(
        s.name,
        storedConstraints(s.constraints),
        spec.constraintAdd,
        spec.constraintRm,
      );
      const { constraints: _was, ...rest } = s;
      const draft: ServiceRecord = {
        ...rest,
        ...(constraints.length > 0 ? { constraints } : {}),
        replicas: spec.replicas ?? s.replicas,
        networks: own,
        ports: plan.ports,
        ...(spec.updateMonitorMs === undefined ? {} : { updateMonitorMs: spec.updateMonitorMs }),
      };
      const before = effectiveNetworks(s, ingress?.id);
      const after = effectiveNetworks(draft, ingress?.id);
      const unchanged =
        draft.replicas === s.replicas &&
        draft.updateMonitorMs === s.updateMonitorMs &&
        JSON.stringify(constraints) === JSON.stringify([...(s.constraints ?? [])].sort()) &&
        JSON.stringify(own) === JSON.stringify(s.networks) &&
        JSON.stringify(plan.ports) === JSON.stringify(s.ports);
      if (unchanged) return s;
      const st = new ServiceTxn(tx);
      const vips = await st.setServiceNetworks(s, before, after);
      const record: ServiceRecord = { ...draft, vips, version: s.version + 1, updatedAt: at };
      putPorts(tx, record, plan.removed, plan.added);
      tx.put(keys.service(s.id), record);
      // Running tasks follow in place: same ids, new ports and networks.
      for (const t of await tx.list<TaskRecord>(keys.serviceTasks(s.id))) {
        if (!t.released && t.desiredState === "running") await st.syncTask(t, after, record, at);
      }
      return record;
    });
    return this.viewOf(result);
  }

  private async viewOf(s: ServiceRecord): Promise<ServiceView> {
    const [networks, tasks] = await Promise.all([
      this.store.listNetworks(),
      this.store.list<TaskRecord>(keys.serviceTasks(s.id)),
    ]);
    return view(s, new Map(networks.map((n) => [n.id, n])), tasks);
  }

  async remove(ref: string): Promise<ServiceRecord> {
    const target = resolveService(await this.store.list<ServiceRecord>(keys.servicesPrefix), ref);
    const at = this.opts.now().toISOString();
    const { result } = await this.store.transact(async (tx) => {
      const s = await tx.get<ServiceRecord>(keys.service(target.id));
      if (s === undefined) throw new SwarmnetError(ErrorCode.NotFound, `service ${ref} not found`);
      const st = new ServiceTxn(tx);
      st.releaseService(s);
      putPorts(tx, s, s.ports, []);
      tx.delete(keys.service(s.id));
      tx.delete(keys.serviceName(s.name));
      for (const t of await tx.list<TaskRecord>(keys.serviceTasks(s.id))) {
        if (t.released || t.desiredState === "shutdown") continue;
        // A task on no node has nothing to stop: it is released at once.
        if (t.nodeId === "") st.release(t, { message: "service removed" }, at);
        else st.putTask({ ...t, desiredState: "shutdown", message: "service removed", updatedAt: at });
      }
      return s;
    });
    return result;
  }

  async list(): Promise<ServiceView[]> {
    if ((await this.store.getCluster()) === undefined) throw notInitialised();
    const [services, tasks, networks] = await Promise.all([
      this.store.list<ServiceRecord>(keys.servicesPrefix),
      this.store.list<TaskRecord>(keys.tasksPrefix),
      this.store.listNetworks(),
    ]);
    const byId = new Map(networks.map((n) => [n.id, n]));
    return services
      .map((s) =>
        view(
          s,
          byId,
          tasks.filter((t) => t.serviceId === s.id),
        ),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async inspect(ref: string): Promise<ServiceView> {
    return resolveService(await this.list(), ref);
  }

  /** Tasks of one service (or all), by slot then newest first, with node names. */
  async tasks(ref: string): Promise<TaskView[]> {
    const services = await this.list();
    const only = ref === "" ? undefined : resolveService(services, ref).id;
    const [tasks, nodes] = await Promise.all([
      this.store.list<TaskRecord>(only === undefined ? keys.tasksPrefix : keys.serviceTasks(only)),
      this.store.list<NodeRecord>(keys.nodesPrefix),
    ]);
    const names = new Map(nodes.map((n) => [n.id, n.hostname]));
    return tasks
      .map((t) => ({ ...t, nodeName: names.get(t.nodeId) ?? "" }))
      .sort(
        (a, b) =>
          (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : 0) ||
          a.slot - b.slot ||
          (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0) ||
          (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0),
      );
  }
}

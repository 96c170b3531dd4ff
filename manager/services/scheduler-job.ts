/**
 * The scheduler, a leader job: it keeps every service's tasks where `planService`
 * (scheduler.ts) says they belong, gives every node its address on the ingress network
 * (Docker's ingress-sbox endpoint, which the routing mesh masquerades to), and frees the
 * addresses of departed nodes (their ingress endpoint, their standalone containers').
 *
 *   trigger  any change under services/, tasks/, nodes/ (labels and roles included:
 *            placement constraints), sessions/ (seen in the
 *            manager's mirror of the store) starts a pass at once, changes during a
 *            pass coalesce into the next one, at most one every `debounceMs`; plus a
 *            pass every `tickMs` for what only time changes (a down node's grace
 *            running out, a failed task's restart delay) and for new networks —
 *            common/bounded-frequency-runner.ts
 *   plan     from the mirror, in pure code, for every service (and the leftovers of
 *            removed ones); only services with something to do open a transaction
 *   apply    per service, one transaction that re-reads the service and its tasks
 *            (guarded), plans again on that data and writes the result: a concurrent
 *            `service update` or status report makes it retry, never interleave
 *
 * The task history limit is the cluster record's (`swarm update --task-history-limit`),
 * read at every pass, else the manager's default.
 *
 * Node conditions: `ready` while the node has a dispatcher session; `down` from the
 * moment this leader first sees it without one; `gone` after `nodeDownGraceMs` down, or
 * at once when the node left or was removed. A new leader starts the grace afresh
 * (it cannot know how long the node was down before), which only delays a reschedule.
 *
 * A failed reconcile changes nothing (its transaction did not commit); it is logged and
 * retried with backoff on fresh data.
 */
import { BoundedFrequencyRunner, type PassResult } from "../../common/bounded-frequency-runner.js";
import type { Clock } from "../../common/clock.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { LeaderJob } from "../election/leader-jobs.js";
import { networkUsage } from "../networks/network-usage.js";
import { keys, lastSegment } from "../store/keys.js";
import type { KvEntry } from "../store/kv.js";
import {
  attachmentOwner,
  decode,
  type AttachmentRecord,
  type ClusterRecord,
  type NetworkRecord,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
} from "../store/records.js";
import type { Store } from "../store/store.js";
import type { PrefixMirror } from "../store/watch.js";
import { planService, type Decision, type SchedulerNode, type SchedulerOptions } from "./scheduler.js";
import { ServiceTxn } from "./service-txn.js";
import { effectiveNetworks, isLive, syncNeeded, taskEnv, taskSync } from "./tasks.js";

export interface SchedulerJobOptions extends SchedulerOptions {
  /** How long a node may be without a session before its tasks are rescheduled. */
  nodeDownGraceMs: number;
  tickMs: number;
  debounceMs: number;
}

export interface SchedulerJobDeps {
  newId: () => string;
  /** Wall-clock time, for task timestamps and restart delays. */
  now: () => Date;
}

/**
 * Prefixes whose changes start a pass at once. Networks are left to the tick: a new
 * network never needs a task moved, and network creates stay free of scheduler work.
 */
const WATCHED = [keys.servicesPrefix, keys.tasksPrefix, keys.nodesPrefix, keys.sessionsPrefix];

/** The network drivers of the networks `ids` (the nodes that place its tasks must run them). */
function driversOf(ids: readonly string[], networks: readonly NetworkRecord[]): string[] {
  return [...new Set(ids.flatMap((id) => networks.find((n) => n.id === id)?.driver ?? []))].sort();
}

export class SchedulerJob implements LeaderJob {
  readonly name = "scheduler";
  private unsubscribe: (() => void) | undefined;
  private runner: BoundedFrequencyRunner | undefined;
  private readonly downSince = new Map<string, number>();
  /** Reconciles completed, for tests and metrics. */
  rounds = 0;
  private readonly passListeners: ((p: PassResult) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly mirror: PrefixMirror,
    private readonly clock: Clock,
    private readonly opts: SchedulerJobOptions,
    private readonly deps: SchedulerJobDeps,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.runner !== undefined) return;
    this.downSince.clear();
    const runner = new BoundedFrequencyRunner(
      async () => {
        await this.reconcile();
        this.rounds++;
      },
      {
        minIntervalMs: this.opts.debounceMs,
        maxIntervalMs: this.opts.tickMs,
        // A round that failed committed nothing; fresh data soon, without spinning.
        retryInitialMs: this.opts.debounceMs + 50,
        retryMaxMs: this.opts.tickMs,
        clock: this.clock,
      },
    );
    runner.onPass((p) => {
      if (p.error !== undefined)
        this.log.warn({ err: errorMessage(p.error) }, "scheduling round failed; retrying");
      for (const l of this.passListeners) l(p);
    });
    this.runner = runner;
    this.unsubscribe = this.mirror.subscribe((c) => {
      if (c.events.some((e) => WATCHED.some((p) => e.key.startsWith(p)))) void runner.run();
    });
    runner.start();
    void runner.run();
  }

  /** Called after every scheduling round this manager runs as leader (metrics). */
  onPass(listener: (p: PassResult) => void): void {
    this.passListeners.push(listener);
  }

  stop(): void {
    this.unsubscribe?.();
    this.runner?.stop();
    this.runner = undefined;
  }

  /** Runs one reconcile that starts after this call (after any in flight); for tests. */
  async reconcileNow(): Promise<void> {
    await this.runner?.run({ immediate: true });
  }

  /** The cluster's task history limit (`swarm update --task-history-limit`) over the default. */
  private planOptions(): SchedulerOptions {
    const e = this.mirror.entry(keys.cluster);
    const limit = e === undefined ? undefined : decode<ClusterRecord>(e.key, e.value).taskHistoryLimit;
    return { restartDelayMs: this.opts.restartDelayMs, historyLimit: limit ?? this.opts.historyLimit };
  }

  private list<T extends object>(prefix: string): T[] {
    return this.mirror.entriesUnder(prefix).map((e: KvEntry) => decode<T>(e.key, e.value));
  }

  /** Node conditions as this leader sees them now. */
  private nodeStates(tasks: readonly TaskRecord[]): SchedulerNode[] {
    const sessions = new Set(
      this.mirror
        .entriesUnder(keys.sessionsPrefix)
        .map((e) => e.key.slice(keys.sessionsPrefix.length).split("/")[0]),
    );
    const load = new Map<string, number>();
    for (const t of tasks)
      if (isLive(t) && t.nodeId !== "") load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
    const now = this.clock.now();
    const nodes = this.list<NodeRecord>(keys.nodesPrefix);
    for (const id of this.downSince.keys()) if (!nodes.some((n) => n.id === id)) this.downSince.delete(id);
    return nodes.map((n) => {
      let condition: SchedulerNode["condition"] = "ready";
      if (n.credentialHash === "") condition = "gone";
      else if (sessions.has(n.id)) this.downSince.delete(n.id);
      else {
        const since = this.downSince.get(n.id) ?? now;
        this.downSince.set(n.id, since);
        condition = now - since >= this.opts.nodeDownGraceMs ? "gone" : "down";
      }
      const drivers = n.capabilities?.drivers;
      return {
        id: n.id,
        condition,
        availability: n.availability,
        load: load.get(n.id) ?? 0,
        ...(drivers?.length ? { drivers } : {}),
        hostname: n.hostname,
        role: n.role,
        labels: n.labels ?? {},
        os: n.capabilities?.os ?? "",
        arch: n.capabilities?.arch ?? "",
        addr: n.advertiseAddr,
      };
    });
  }

  private async reconcile(): Promise<void> {
    if (this.runner === undefined) return;
    const services = new Map(this.list<ServiceRecord>(keys.servicesPrefix).map((s) => [s.id, s]));
    const tasks = this.list<TaskRecord>(keys.tasksPrefix);
    const nodes = this.nodeStates(tasks);
    const networks = this.list<NetworkRecord>(keys.networksPrefix);
    const ingress = networks.find((n) => n.ingress);
    const byService = new Map<string, TaskRecord[]>();
    for (const t of tasks) byService.set(t.serviceId, [...(byService.get(t.serviceId) ?? []), t]);
    const now = this.deps.now().getTime();
    for (const id of new Set([...services.keys(), ...byService.keys()])) {
      if (this.runner === undefined) return;
      const s = services.get(id);
      const mine = byService.get(id) ?? [];
      const nets = s === undefined ? [] : effectiveNetworks(s, ingress?.id);
      const needs = driversOf(nets, networks);
      const work =
        planService(s, mine, nodes, now, this.planOptions(), needs).length > 0 ||
        (s !== undefined &&
          mine.some(
            (t) => !t.released && t.desiredState === "running" && syncNeeded(taskSync(t, nets, s.ports)),
          ));
      if (work) await this.applyService(id, nodes, ingress?.id, needs);
    }
    if (ingress !== undefined) await this.ensureIngressEndpoints(ingress);
    await this.releaseDepartedContainers();
  }

  /**
   * Standalone containers' attachments whose node left or was removed: nobody will
   * release them any more, so their addresses are freed here.
   */
  private async releaseDepartedContainers(): Promise<void> {
    const members = new Set(
      this.list<NodeRecord>(keys.nodesPrefix)
        .filter((n) => n.credentialHash !== "")
        .map((n) => n.id),
    );
    const departed = this.mirror
      .entriesUnder(`${keys.root}attachments/`)
      .filter((e) => lastSegment(e.key).startsWith("container:"))
      .filter((e) => {
        const a = decode<AttachmentRecord>(e.key, e.value);
        return a.nodeId !== undefined && !members.has(a.nodeId);
      });
    if (departed.length === 0) return;
    await this.store.transact(async (tx) => {
      const st = new ServiceTxn(tx);
      for (const e of departed) {
        const a = await tx.get<AttachmentRecord>(e.key);
        if (a === undefined || a.nodeId === undefined || members.has(a.nodeId)) continue;
        const networkId = e.key.slice(`${keys.root}attachments/`.length).split("/")[0] ?? "";
        tx.delete(e.key);
        if (a.ip !== undefined) st.addresses.release(networkId, a.ip);
      }
    });
    this.log.info({ attachments: departed.length }, "released the addresses of departed nodes' containers");
  }

  private async applyService(
    serviceId: string,
    nodes: readonly SchedulerNode[],
    ingressId: string | undefined,
    needs: readonly string[],
  ): Promise<void> {
    const at = this.deps.now();
    const stamp = at.toISOString();
    const skipped: string[] = [];
    const { result } = await this.store.transact(async (tx) => {
      skipped.length = 0;
      const s = await tx.get<ServiceRecord>(keys.service(serviceId));
      const tasks = await tx.list<TaskRecord>(keys.serviceTasks(serviceId));
      const decisions = planService(s, tasks, nodes, at.getTime(), this.planOptions(), needs);
      const st = new ServiceTxn(tx);
      const byId = new Map(tasks.map((t) => [t.id, t]));
      const nets = s === undefined ? [] : effectiveNetworks(s, ingressId);
      for (const d of decisions) {
        const t = d.kind === "create" ? undefined : byId.get(d.taskId);
        switch (d.kind) {
          case "create": {
            if (s === undefined) break;
            const created = await this.createTask(st, s, d, nets, stamp).catch((err: unknown) => {
              skipped.push(String(err));
              return undefined;
            });
            if (created !== undefined) byId.set(created.id, created);
            break;
          }
          case "assign":
            if (t === undefined) break;
            byId.set(t.id, this.assign(st, t, d.nodeId, stamp));
            break;
          case "shutdown":
            if (t === undefined) break;
            byId.set(
              t.id,
              t.nodeId === ""
                ? st.release(t, { message: d.reason }, stamp)
                : this.put(st, {
                    ...t,
                    desiredState: "shutdown",
                    message: t.state === "failed" ? t.message : d.reason,
                    updatedAt: stamp,
                  }),
            );
            break;
          case "orphan":
            if (t === undefined) break;
            byId.set(
              t.id,
              st.release(
                t,
                t.state === "failed" ? {} : { state: "orphaned", stateAt: stamp, message: "node is down" },
                stamp,
              ),
            );
            break;
          case "delete":
            if (t === undefined) break;
            if (!t.released) st.leaveNetworks(t, t.networks);
            tx.delete(keys.task(t.serviceId, t.id));
            byId.delete(t.id);
            break;
        }
      }
      if (s !== undefined) {
        for (const t of byId.values()) {
          if (!t.released && t.desiredState === "running") await st.syncTask(t, nets, s, stamp);
        }
      }
      return decisions;
    });
    if (result.length > 0) this.log.debug({ service: serviceId, decisions: summarize(result) }, "scheduled");
    if (skipped.length > 0) this.log.warn({ service: serviceId, err: skipped[0] }, "could not create a task");
  }

  private put(st: ServiceTxn, t: TaskRecord): TaskRecord {
    st.putTask(t);
    return t;
  }

  private async createTask(
    st: ServiceTxn,
    s: ServiceRecord,
    d: Extract<Decision, { kind: "create" }>,
    networks: readonly string[],
    at: string,
  ): Promise<TaskRecord> {
    const draft: TaskRecord = {
      id: this.deps.newId(),
      serviceId: s.id,
      serviceName: s.name,
      slot: d.slot,
      nodeId: d.nodeId,
      desiredState: "running",
      createdAt: at,
      updatedAt: at,
      command: [...s.command],
      env: {},
      networks: [],
      ports: [...s.ports],
      state: d.nodeId === "" ? "pending" : "assigned",
      message: d.reason,
      exitCode: 0,
      stateAt: at,
      released: false,
    };
    const task: TaskRecord = { ...draft, env: taskEnv(s, draft) };
    task.networks = await st.joinNetworks(task, networks);
    st.putTask(task);
    return task;
  }

  private assign(st: ServiceTxn, t: TaskRecord, nodeId: string, at: string): TaskRecord {
    const next: TaskRecord = { ...t, nodeId, state: "assigned", message: "", stateAt: at, updatedAt: at };
    st.putTask(next);
    st.refreshEndpoints(next);
    return next;
  }

  /** Every node of the cluster has an address on the ingress network; gone nodes free theirs. */
  private async ensureIngressEndpoints(ingress: NetworkRecord): Promise<void> {
    const members = this.list<NodeRecord>(keys.nodesPrefix).filter((n) => n.credentialHash !== "");
    const usage = networkUsage(this.mirror.entriesUnder(keys.attachmentsPrefix(ingress.id)), members).get(
      ingress.id,
    );
    const have = new Set((usage?.endpoints ?? []).filter((e) => e.kind === "node").map((e) => e.nodeId));
    const missing = members.filter((n) => !have.has(n.id));
    const stale = [...have].filter((id) => !members.some((n) => n.id === id));
    if (missing.length === 0 && stale.length === 0) return;
    await this.store.transact(async (tx) => {
      const n = await tx.get<NetworkRecord>(keys.network(ingress.id));
      if (n === undefined) return;
      const st = new ServiceTxn(tx);
      for (const node of missing) {
        const key = keys.attachment(n.id, attachmentOwner("node", node.id));
        if ((await tx.get<AttachmentRecord>(key)) !== undefined) continue;
        const a = await st.addresses.allocate(n, attachmentOwner("node", node.id));
        const record: AttachmentRecord = {
          kind: "node",
          id: node.id,
          name: node.hostname,
          nodeId: node.id,
          ip: a.ip,
        };
        tx.put(key, record);
      }
      for (const id of stale) {
        const key = keys.attachment(n.id, attachmentOwner("node", id));
        const a = await tx.get<AttachmentRecord>(key);
        if (a === undefined) continue;
        tx.delete(key);
        if (a.ip !== undefined) st.addresses.release(n.id, a.ip);
      }
    });
  }
}

function summarize(ds: readonly Decision[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of ds) out[d.kind] = (out[d.kind] ?? 0) + 1;
  return out;
}

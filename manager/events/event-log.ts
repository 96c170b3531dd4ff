/**
 * `swarmnet events` on the manager side: what happens in the cluster, as `docker events`
 * reports it — derived from this manager's mirror of etcd (store/watch.ts), so every
 * change any manager commits is seen, in revision order, without a write of its own.
 *
 *   nodes/<id>            put new → node join          delete → node remove
 *   sessions/<node>/…     first session → node ready   last one gone → node down
 *   networks/<id>         put new → network create     delete → network remove
 *   services/<id>         put new → service create     put → service update (replicas.old
 *                                                      / replicas.new, as Docker's scale)
 *                                                      delete → service remove
 *   tasks/<svc>/<id>      state changed → task <state> (running, failed, …)
 *   keys/<kind>/<tag>     put new → key rotate (the tag; never the key)
 *
 * The log keeps the last `capacity` events in memory for `--since`; a manager knows what
 * it saw since it started (history before that is state, shown by ls/ps). Each event's
 * time is when this manager saw it. Attributes carry names, ids, states and tags only.
 */
import type { KvEvent } from "../store/kv.js";
import { keys } from "../store/keys.js";
import type { NetworkRecord, NodeRecord, ServiceRecord, TaskRecord } from "../store/records.js";
import type { MirrorChange, PrefixMirror } from "../store/watch.js";

export const EVENT_TYPES = ["node", "network", "service", "task", "key"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ClusterEvent {
  type: EventType;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
  /** Unix time in milliseconds when this manager saw the change. */
  timeMs: number;
}

export interface EventFilter {
  /** Any of these types; empty: every type. */
  types: readonly string[];
  /** Any of these actions; empty: every action. */
  actions: readonly string[];
}

export function matches(e: ClusterEvent, f: EventFilter): boolean {
  return (
    (f.types.length === 0 || f.types.includes(e.type)) &&
    (f.actions.length === 0 || f.actions.includes(e.action))
  );
}

/** Events kept for `--since`: hours of a busy cluster's changes in a few MB. */
const DEFAULT_CAPACITY = 10_000;

export class EventLog {
  private readonly events: ClusterEvent[] = [];
  private readonly listeners = new Set<(e: ClusterEvent) => void>();
  private readonly sessions = new Map<string, number>();
  private readonly taskStates = new Map<string, string>();
  private readonly serviceReplicas = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly mirror: PrefixMirror,
    private readonly now: () => number = Date.now,
    private readonly capacity = DEFAULT_CAPACITY,
  ) {}

  /** After the mirror started: what exists now is the baseline, later changes are events. */
  start(): void {
    if (this.unsubscribe !== undefined) return;
    for (const e of this.mirror.entriesUnder(keys.sessionsPrefix)) {
      const node = this.sessionNode(e.key);
      this.sessions.set(node, (this.sessions.get(node) ?? 0) + 1);
    }
    for (const e of this.mirror.entriesUnder(keys.tasksPrefix)) {
      this.taskStates.set(e.key, (JSON.parse(e.value) as TaskRecord).state);
    }
    for (const e of this.mirror.entriesUnder(keys.servicesPrefix)) {
      this.serviceReplicas.set(e.key, (JSON.parse(e.value) as ServiceRecord).replicas);
    }
    this.unsubscribe = this.mirror.subscribe((c) => this.onChange(c));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Events seen at or after `sinceMs`, oldest first. */
  since(sinceMs: number, filter: EventFilter): ClusterEvent[] {
    return this.events.filter((e) => e.timeMs >= sinceMs && matches(e, filter));
  }

  /** The last `n` events, oldest first (the live page). */
  recent(n: number): ClusterEvent[] {
    return this.events.slice(-n);
  }

  subscribe(fn: (e: ClusterEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(type: EventType, action: string, actorId: string, attributes: Record<string, string>): void {
    const e: ClusterEvent = { type, action, actorId, attributes, timeMs: this.now() };
    this.events.push(e);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    for (const l of this.listeners) l(e);
  }

  private onChange(c: MirrorChange): void {
    // The mirror's other listeners (the intent stream, the scheduler) must never be held
    // back by an event that cannot be described: such a change is left out of the log.
    for (const e of c.events) {
      try {
        this.describe(e);
      } catch {
        // a record this version cannot read: no event
      }
    }
  }

  private describe(e: KvEvent): void {
    if (e.key.startsWith(keys.nodesPrefix)) this.node(e);
    else if (e.key.startsWith(keys.sessionsPrefix)) this.session(e);
    else if (e.key.startsWith(keys.networksPrefix)) this.network(e);
    else if (e.key.startsWith(keys.servicesPrefix)) this.service(e);
    else if (e.key.startsWith(keys.tasksPrefix)) this.task(e);
    else if (e.key.startsWith(keys.keysPrefix)) this.key(e);
  }

  /** The value the key had before this change (the mirror applies a batch before telling). */
  private isNew(e: KvEvent): boolean {
    return this.mirror.entry(e.key)?.createRevision === e.modRevision;
  }

  private nodeName(id: string): string {
    const e = this.mirror.entry(keys.node(id));
    return e === undefined ? id : (JSON.parse(e.value) as NodeRecord).hostname;
  }

  private node(e: KvEvent): void {
    const id = e.key.slice(keys.nodesPrefix.length);
    if (e.type === "delete") return this.emit("node", "remove", id, { name: id });
    if (!this.isNew(e)) return;
    const n = JSON.parse(e.value) as NodeRecord;
    this.emit("node", "join", id, { name: n.hostname, role: n.role });
  }

  private sessionNode(key: string): string {
    return key.slice(keys.sessionsPrefix.length).split("/")[0] ?? "";
  }

  private session(e: KvEvent): void {
    const node = this.sessionNode(e.key);
    const before = this.sessions.get(node) ?? 0;
    if (e.type === "put" && !this.isNew(e)) return;
    const after = Math.max(0, before + (e.type === "put" ? 1 : -1));
    this.sessions.set(node, after);
    if (before === 0 && after > 0) this.emit("node", "ready", node, { name: this.nodeName(node) });
    if (before > 0 && after === 0) this.emit("node", "down", node, { name: this.nodeName(node) });
  }

  private network(e: KvEvent): void {
    const id = e.key.slice(keys.networksPrefix.length);
    if (e.type === "delete") return this.emit("network", "remove", id, {});
    if (!this.isNew(e)) return;
    const n = JSON.parse(e.value) as NetworkRecord;
    this.emit("network", "create", id, {
      name: n.name,
      driver: n.driver,
      ...(n.encrypted ? { encrypted: "true" } : {}),
      ...(n.attachable ? { attachable: "true" } : {}),
    });
  }

  private service(e: KvEvent): void {
    const id = e.key.slice(keys.servicesPrefix.length);
    if (e.type === "delete") {
      this.serviceReplicas.delete(e.key);
      return this.emit("service", "remove", id, {});
    }
    const s = JSON.parse(e.value) as ServiceRecord;
    const old = this.serviceReplicas.get(e.key);
    this.serviceReplicas.set(e.key, s.replicas);
    if (this.isNew(e))
      return this.emit("service", "create", id, { name: s.name, replicas: String(s.replicas) });
    this.emit("service", "update", id, {
      name: s.name,
      ...(old !== undefined && old !== s.replicas
        ? { "replicas.old": String(old), "replicas.new": String(s.replicas) }
        : {}),
    });
  }

  private task(e: KvEvent): void {
    if (e.type === "delete") {
      this.taskStates.delete(e.key);
      return;
    }
    const t = JSON.parse(e.value) as TaskRecord;
    if (this.taskStates.get(e.key) === t.state) return;
    this.taskStates.set(e.key, t.state);
    this.emit("task", t.state, t.id, {
      service: t.serviceName,
      slot: String(t.slot),
      ...(t.nodeId === "" ? {} : { node: this.nodeName(t.nodeId) }),
      ...(t.message === "" ? {} : { message: t.message }),
    });
  }

  private key(e: KvEvent): void {
    const [kind, tag] = e.key.slice(keys.keysPrefix.length).split("/");
    const attrs = { kind: kind ?? "", tag: String(Number(tag)) };
    if (e.type === "delete") return this.emit("key", "remove", `${attrs.kind}:${attrs.tag}`, attrs);
    if (this.isNew(e)) this.emit("key", "rotate", `${attrs.kind}:${attrs.tag}`, attrs);
  }
}

/**
 * The workload part of what agents receive: services, tasks and each node's ingress
 * endpoint, projected from the store's records to what an agent acts on.
 *
 *   services          every node gets every service (the routing mesh answers for all of
 *                     them on every node): mode, endpoint mode, published ports, the
 *                     networks its tasks are on, a VIP per network, the ingress VIP
 *   tasks             a node gets only the tasks assigned to it that are not released:
 *                     the full spec and the desired state (observed state is the agent's
 *                     own, so status reports never echo back as changes)
 *   ingress endpoint  a node gets only its own address on the ingress network
 *
 * Changes are computed by comparing projections, so a record write that changes nothing
 * an agent sees (a status report, a history prune) produces no change. Node-scoped
 * changes carry the node id; `visibleTo` filters a batch for one node's stream.
 */
import {
  serviceIntent,
  taskIntent,
  type IngressEndpointIntent,
  type ServiceDetail,
  type TaskIntent,
} from "../services/intent.js";
import { keys, lastSegment } from "../store/keys.js";
import type { KvEntry, KvEvent } from "../store/kv.js";
import {
  decode,
  type AttachmentRecord,
  type NetworkRecord,
  type ServiceRecord,
  type TaskRecord,
} from "../store/records.js";

export type { IngressEndpointIntent, ServiceDetail, TaskIntent };

export type WorkloadChange =
  | { kind: "serviceUpsert"; service: ServiceDetail }
  | { kind: "serviceRemoved"; id: string; name: string }
  | { kind: "taskUpsert"; task: TaskIntent }
  | { kind: "taskRemoved"; id: string; serviceId: string; nodeId: string }
  | { kind: "ingressEndpoint"; nodeId: string; endpoint: IngressEndpointIntent | undefined };

/** Whether a change belongs on `nodeId`'s stream (every other kind goes to all). */
export function visibleTo(nodeId: string, c: { kind: string; task?: TaskIntent; nodeId?: string }): boolean {
  switch (c.kind) {
    case "taskUpsert":
      return c.task?.nodeId === nodeId;
    case "taskRemoved":
    case "ingressEndpoint":
      return c.nodeId === nodeId;
    default:
      return true;
  }
}

const ATTACHMENTS = `${keys.root}attachments/`;

/** An ingress endpoint attachment key → node id, or undefined for any other key. */
function endpointNode(key: string, ingressId: string | undefined): string | undefined {
  if (ingressId === undefined || !key.startsWith(`${ATTACHMENTS}${ingressId}/node:`)) return undefined;
  return lastSegment(key).slice("node:".length);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class WorkloadIntent {
  private readonly records = new Map<string, ServiceRecord>();
  private readonly services = new Map<string, ServiceDetail>();
  private readonly tasks = new Map<string, TaskIntent>();
  private readonly endpoints = new Map<string, IngressEndpointIntent>();

  /** Loads everything from the mirror's entries (after the networks are known). */
  load(entries: (prefix: string) => KvEntry[], networks: ReadonlyMap<string, NetworkRecord>): void {
    for (const e of entries(keys.servicesPrefix)) {
      const s = decode<ServiceRecord>(e.key, e.value);
      this.records.set(s.id, s);
      this.services.set(s.id, serviceIntent(s, networks));
    }
    for (const e of entries(keys.tasksPrefix)) {
      const t = taskIntent(decode<TaskRecord>(e.key, e.value));
      if (t !== undefined) this.tasks.set(t.id, t);
    }
    const ingressId = [...networks.values()].find((n) => n.ingress)?.id;
    for (const e of entries(ATTACHMENTS)) {
      const nodeId = endpointNode(e.key, ingressId);
      const ip = decode<AttachmentRecord>(e.key, e.value).ip;
      if (nodeId !== undefined && ip !== undefined && ingressId !== undefined)
        this.endpoints.set(nodeId, { networkId: ingressId, ip });
    }
  }

  /**
   * The changes one revision's events make. `networks` is the network map after this
   * revision's network events; `networksChanged` says whether any happened (a new or
   * removed ingress network changes every service's projection).
   */
  apply(
    events: readonly KvEvent[],
    networks: ReadonlyMap<string, NetworkRecord>,
    networksChanged: boolean,
  ): WorkloadChange[] {
    const out: WorkloadChange[] = [];
    const touched = new Set<string>();
    const ingressId = [...networks.values()].find((n) => n.ingress)?.id;
    for (const e of events) {
      if (e.key.startsWith(keys.servicesPrefix)) {
        const id = e.key.slice(keys.servicesPrefix.length);
        if (e.type === "put") this.records.set(id, decode<ServiceRecord>(e.key, e.value));
        else this.records.delete(id);
        touched.add(id);
      } else if (e.key.startsWith(keys.tasksPrefix)) {
        out.push(...this.taskChange(e));
      } else if (e.key.startsWith(ATTACHMENTS)) {
        const nodeId = endpointNode(e.key, ingressId);
        if (nodeId === undefined) continue;
        const ip = e.type === "put" ? decode<AttachmentRecord>(e.key, e.value).ip : undefined;
        const next = ip === undefined || ingressId === undefined ? undefined : { networkId: ingressId, ip };
        if (same(next, this.endpoints.get(nodeId))) continue;
        if (next === undefined) this.endpoints.delete(nodeId);
        else this.endpoints.set(nodeId, next);
        out.push({ kind: "ingressEndpoint", nodeId, endpoint: next });
      }
    }
    const ids = networksChanged ? new Set([...this.records.keys(), ...this.services.keys()]) : touched;
    for (const id of ids) {
      const record = this.records.get(id);
      const before = this.services.get(id);
      if (record === undefined) {
        if (before === undefined) continue;
        this.services.delete(id);
        out.push({ kind: "serviceRemoved", id, name: before.name });
        continue;
      }
      const next = serviceIntent(record, networks);
      if (same(next, before)) continue;
      this.services.set(id, next);
      out.push({ kind: "serviceUpsert", service: next });
    }
    return out;
  }

  private taskChange(e: KvEvent): WorkloadChange[] {
    const id = lastSegment(e.key);
    const before = this.tasks.get(id);
    const next = e.type === "put" ? taskIntent(decode<TaskRecord>(e.key, e.value)) : undefined;
    if (same(next, before)) return [];
    const out: WorkloadChange[] = [];
    if (before !== undefined && before.nodeId !== next?.nodeId) {
      out.push({ kind: "taskRemoved", id, serviceId: before.serviceId, nodeId: before.nodeId });
    }
    if (next === undefined) this.tasks.delete(id);
    else {
      this.tasks.set(id, next);
      out.push({ kind: "taskUpsert", task: next });
    }
    return out;
  }

  allServices(): ServiceDetail[] {
    return [...this.services.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  tasksOf(nodeId: string): TaskIntent[] {
    return [...this.tasks.values()].filter((t) => t.nodeId === nodeId).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  endpointOf(nodeId: string): IngressEndpointIntent | undefined {
    return this.endpoints.get(nodeId);
  }
}

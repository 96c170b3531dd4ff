/**
 * Tasks as plain data: names, the environment a task runs with, which networks a
 * service's tasks must be on, and what a running task needs changed when its service
 * changes — in place, never by restarting it (`service publish` must not disturb a
 * running task; Docker re-creates tasks here, swarmnet does not).
 *
 * A task's life (desired state is the managers', state is what its agent reported):
 *
 *   pending ─(a node fits)→ assigned ─(agent: running)→ running ─(agent: failed)→ failed
 *      desired running ──(scale down, service rm, failure, drain)──→ desired shutdown
 *      desired shutdown ─(agent: shutdown = sandbox removed)→ released (history only)
 *      node gone (no session for longer than the grace) → orphaned, released
 *
 * A released task's addresses are free and its agent no longer sees it.
 */
import type { PortRecord, ServiceRecord, TaskRecord, TaskState } from "../store/records.js";
import { hasIngressPort } from "./ports.js";

/** `web.1` (replicated) or `web.<node id>` (global), as `service ps` shows it. */
export function taskName(t: Pick<TaskRecord, "serviceName" | "slot" | "nodeId">): string {
  return t.slot > 0 ? `${t.serviceName}.${t.slot}` : `${t.serviceName}.${t.nodeId}`;
}

/** `web.1.<task id>`: unique, the container's name and SWARMNET_TASK_NAME (Docker's rule). */
export function containerName(t: Pick<TaskRecord, "id" | "serviceName" | "slot" | "nodeId">): string {
  return `${taskName(t)}.${t.id}`;
}

/** The environment of a task: the service's, then swarmnet's own names (which win). */
export function taskEnv(
  service: Pick<ServiceRecord, "id" | "name" | "env">,
  t: Pick<TaskRecord, "id" | "serviceName" | "slot" | "nodeId">,
): Record<string, string> {
  return {
    ...service.env,
    SWARMNET_SERVICE_ID: service.id,
    SWARMNET_SERVICE_NAME: service.name,
    SWARMNET_TASK_ID: t.id,
    SWARMNET_TASK_NAME: containerName(t),
    SWARMNET_TASK_SLOT: String(t.slot),
  };
}

/**
 * Every network the service's tasks are on: its own networks, then the ingress network
 * while it publishes a port in ingress mode.
 */
export function effectiveNetworks(
  service: Pick<ServiceRecord, "networks" | "ports">,
  ingressNetworkId: string | undefined,
): string[] {
  const out = [...service.networks];
  if (ingressNetworkId !== undefined && hasIngressPort(service.ports) && !out.includes(ingressNetworkId)) {
    out.push(ingressNetworkId);
  }
  return out;
}

/** A task that should be (or stay) up: desired running and not dead. */
export function isLive(t: TaskRecord): boolean {
  return t.desiredState === "running" && !t.released && !isTerminal(t.state);
}

export function isTerminal(state: TaskState): boolean {
  return state === "failed" || state === "shutdown" || state === "orphaned";
}

export interface TaskSync {
  /** Networks to join (allocate an address) and to leave (free it). */
  join: string[];
  leave: string[];
  /** The service's ports, when they differ from the task's. */
  ports: PortRecord[] | undefined;
}

/** What an unreleased task needs changed in place to match its service. */
export function taskSync(
  task: TaskRecord,
  networks: readonly string[],
  ports: readonly PortRecord[],
): TaskSync {
  const has = new Set(task.networks.map((n) => n.networkId));
  const want = new Set(networks);
  const samePorts = JSON.stringify(task.ports) === JSON.stringify(ports);
  return {
    join: networks.filter((n) => !has.has(n)),
    leave: task.networks.map((n) => n.networkId).filter((n) => !want.has(n)),
    ports: samePorts ? undefined : [...ports],
  };
}

export function syncNeeded(s: TaskSync): boolean {
  return s.join.length > 0 || s.leave.length > 0 || s.ports !== undefined;
}

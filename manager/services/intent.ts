/**
 * Services and tasks as agents (and the CLI) see them, projected from the stored
 * records: what a service looks like on the wire (its effective networks with the
 * ingress network while it has an ingress-mode port, VIPs with their prefix length, the
 * ingress VIP) and what a node is told about one of its tasks (the spec and desired
 * state, never the observed state, which is the agent's own). Pure.
 */
import { addressInfo } from "../networks/address-allocation.js";
import type { IngressEndpointIntent, ServiceIntent, TaskIntent } from "../../common/cluster-types.js";
import type { NetworkRecord, ServiceRecord, TaskRecord } from "../store/records.js";
import { hasIngressPort } from "./ports.js";
import { DEFAULT_UPDATE_MONITOR_MS } from "./service-spec.js";
import { containerName, effectiveNetworks, taskName } from "./tasks.js";

/**
 * A service as the managers hold it for the wire: what agents act on (the shared
 * `ServiceIntent`) plus what only people and the CLI read (command, environment, times,
 * the update monitor its convergence wait uses).
 */
export interface ServiceDetail extends ServiceIntent {
  command: string[];
  env: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  updateMonitorMs: number;
  /** Placement constraints, as typed (`--constraint`). */
  constraints: string[];
}

export type { IngressEndpointIntent, ServiceIntent, TaskIntent };

export function serviceIntent(s: ServiceRecord, networks: ReadonlyMap<string, NetworkRecord>): ServiceDetail {
  const ingress = [...networks.values()].find((n) => n.ingress);
  const ingressId = hasIngressPort(s.ports) ? ingress?.id : undefined;
  const vips = s.vips.map((v) => {
    const n = networks.get(v.networkId);
    return {
      networkId: v.networkId,
      ip: v.ip,
      prefixLength: n === undefined ? 32 : addressInfo(n, v.ip).prefixLength,
    };
  });
  return {
    id: s.id,
    name: s.name,
    mode: s.mode,
    replicas: s.replicas,
    endpointMode: s.endpointMode,
    ports: s.ports,
    vips,
    networks: effectiveNetworks(s, ingress?.id),
    ingress:
      ingressId === undefined
        ? undefined
        : { networkId: ingressId, vip: s.vips.find((v) => v.networkId === ingressId)?.ip ?? "" },
    command: s.command,
    env: s.env,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    version: s.version,
    updateMonitorMs: s.updateMonitorMs ?? DEFAULT_UPDATE_MONITOR_MS,
    constraints: [...(s.constraints ?? [])],
  };
}

/** The task as its node sees it, or undefined when no node should run it. */
export function taskIntent(t: TaskRecord): TaskIntent | undefined {
  if (t.nodeId === "" || t.released) return undefined;
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName: t.serviceName,
    name: taskName(t),
    containerName: containerName(t),
    slot: t.slot,
    nodeId: t.nodeId,
    desiredState: t.desiredState,
    command: t.command,
    env: t.env,
    networks: t.networks,
    ports: t.ports,
  };
}

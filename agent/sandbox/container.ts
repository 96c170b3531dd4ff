/**
 * A container (a standalone one or a service task) as the agent records it: a sandbox (a
 * network namespace of its own, or the node's for the host network), a process, and one
 * endpoint per network it is attached to. Records live in `<stateDir>/containers.json` so
 * a restarted agent knows what it owns and adopts it.
 *
 * Records are immutable values: a change is a new record put into the store, so a node
 * snapshot taken for a reconcile pass never changes under the pass.
 */
import type { ReadyPort } from "./readiness.js";
import type { PortMapping } from "./port-spec.js";

export type ContainerStatus = "created" | "running" | "exited";

export interface EndpointRecord {
  networkId: string;
  networkName: string;
  /** The network's driver: only it reads `driverData`. */
  driver: string;
  /** "" on networks without addresses (host, none). */
  ip: string;
  prefixLength: number;
  /** The network's gateway for this endpoint ("" when there is none). */
  gateway: string;
  mac: string;
  mtu: number;
  /** Docker's --internal: no way out of the network. */
  internal: boolean;
  aliases: readonly string[];
  /** A service task's endpoint: the service's VIP on this network (endpoint mode vip). */
  vip?: string;
  /** Interface name inside the container: eth0, eth1, … in attach order ("" for host, none). */
  ifname: string;
  /** The driver's own data for this endpoint (VNI, data-path port, …); opaque elsewhere. */
  driverData: Readonly<Record<string, string | number | boolean>>;
  /** The network routes the container out through its own gateway (JoinInfo.ownGateway). */
  ownGateway?: boolean;
}

export interface ContainerRecord {
  readonly id: string;
  readonly name: string;
  /** The container's namespace; undefined: the node's own (the host network). */
  readonly netns: string | undefined;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly status: ContainerStatus;
  readonly pid: number;
  readonly exitCode: number;
  readonly createdAt: string;
  readonly endpoints: readonly EndpointRecord[];
  /** Address on the node's gateway bridge (egress), when the container has one. */
  readonly gatewayIp?: string;
  /** Service and task ids of a task; empty for a standalone container. */
  readonly labels: Readonly<Record<string, string>>;
  /** `run -p`: ports of the node forwarded to this container. */
  readonly ports?: readonly PortMapping[];
  /**
   * A task's target ports its process does not listen on yet: until none is left, the
   * task is no backend of its service (readiness.ts). Absent: nothing to wait for.
   */
  readonly waitingFor?: readonly ReadyPort[];
}

/** A service task's container: its addresses are the managers' to free, not the agent's. */
export function isTask(c: ContainerRecord): boolean {
  return c.labels["taskId"] !== undefined;
}

/** The endpoint key other nodes know it by: container id + network id. */
export function endpointKey(c: ContainerRecord, ep: EndpointRecord): string {
  return `${c.id}/${ep.networkId}`;
}

/**
 * The endpoint holding the container's default route: none when the gateway bridge has
 * it, else the first endpoint (in attach order) whose network routes out by its own
 * gateway — Docker gives a container on a bridge network and an overlay its way out
 * through the bridge. Undefined otherwise (an overlay-only container's first overlay
 * then holds it, the overlay driver's rule).
 */
export function defaultRouteEndpoint(c: ContainerRecord): EndpointRecord | undefined {
  if (c.gatewayIp !== undefined) return undefined;
  return c.endpoints.find((e) => e.ownGateway === true && !e.internal);
}

/** The first free ethN name in a container. */
export function nextIfname(c: ContainerRecord): string {
  const used = new Set(c.endpoints.map((e) => e.ifname));
  for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
}

/** Finds by exact name, exact id, or unique id prefix (as Docker does). */
export function findContainer(all: readonly ContainerRecord[], ref: string): ContainerRecord | undefined {
  const exact = all.find((c) => c.name === ref || c.id === ref);
  if (exact) return exact;
  const byPrefix = ref.length >= 4 ? all.filter((c) => c.id.startsWith(ref)) : [];
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

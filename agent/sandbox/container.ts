/**
 * A container (a standalone one or a service task) as the agent records it: a network
 * namespace, a process, and one endpoint per network it is attached to. Records live in
 * `<stateDir>/containers.json` so a restarted agent knows what it owns and adopts it.
 */
import type { OverlayNetwork } from "../vxlan/index.js";
import type { PortMapping } from "./port-spec.js";

export type ContainerStatus = "created" | "running" | "exited";

/** The overlay driver's view of an endpoint's network, plus what the agent decides with. */
export interface EndpointNetwork extends OverlayNetwork {
  /** Docker's --internal: no egress through the gateway bridge. */
  internal: boolean;
  /** `--opt encrypted`: remote traffic goes through the encryption backend. */
  encrypted?: boolean;
}

export interface EndpointRecord {
  network: EndpointNetwork;
  ip: string;
  prefixLength: number;
  mac: string;
  aliases: string[];
  /** Interface name inside the container: eth0, eth1, … in attach order. */
  ifname: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  netns: string;
  command: string[];
  env: Record<string, string>;
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  createdAt: string;
  endpoints: EndpointRecord[];
  /** Address on the node's gateway bridge (egress), when the container has one. */
  gatewayIp?: string;
  /** Service and task ids of a task; empty for a standalone container. */
  labels: Record<string, string>;
  /** `run -p`: ports of the node forwarded to this container. */
  ports?: PortMapping[];
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

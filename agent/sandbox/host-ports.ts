/**
 * Who holds which port of this node — decided here and nowhere else on the node:
 *
 *   - a service's published port (ingress mode: every node; host mode: the nodes running
 *     its tasks) — the managers allocate those cluster-wide, so on a node they always win;
 *   - a standalone container's `run -p` mapping (to its gateway-bridge or bridge address).
 *
 * `allocateHostPorts` gives a new container its host ports (a requested one must be free,
 * 0 takes a free one from the ephemeral range) or refuses with the holder's name.
 * `nodePorts` says which publication the routing mesh programs on each port: a service
 * port published later than a container's `-p` of the same port wins (the managers do not
 * know node-local mappings), and the container's mapping waits until the service lets the
 * port go.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { IntentState, PublishedPort, ServiceIntent, TaskIntent } from "../dispatcher/index.js";
import { BRIDGE } from "../drivers/bridge/options.js";
import type { ContainerRecord } from "./container.js";
import { freeEphemeralPort, type PortMapping } from "./port-spec.js";

export const portKey = (protocol: string, port: number) => `${protocol}/${port}`;

/** Ports held by the services of the intent, with their holder for messages. */
function servicePorts(intent: IntentState | undefined): Map<string, string> {
  const held = new Map<string, string>();
  for (const s of intent?.services.values() ?? [])
    for (const p of s.ports) held.set(portKey(p.protocol, p.publishedPort), `service ${s.name}`);
  return held;
}

/** Host ports for a new container's `-p` mappings, or a clear error naming the holder. */
export function allocateHostPorts(
  wanted: readonly PortMapping[],
  containers: readonly ContainerRecord[],
  intent: IntentState | undefined,
): PortMapping[] {
  const owners = servicePorts(intent);
  for (const c of containers)
    for (const p of c.ports ?? []) owners.set(portKey(p.protocol, p.hostPort), `container ${c.name}`);
  const out: PortMapping[] = [];
  for (const m of wanted) {
    const hostPort = m.hostPort === 0 ? freeEphemeralPort(new Set(owners.keys()), m.protocol) : m.hostPort;
    const key = portKey(m.protocol, hostPort);
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

/**
 * The address a container's `-p` ports forward to: its address on the gateway bridge,
 * else on its first bridge network that routes out (Docker DNATs to the container's
 * address on its bridge); undefined when the node cannot reach it (an `--internal`
 * network, macvlan).
 */
export function publishTarget(c: ContainerRecord): string | undefined {
  return c.gatewayIp ?? c.endpoints.find((e) => e.driver === BRIDGE && !e.internal)?.ip;
}

/** Which publication holds which port of this node, as the routing mesh programs it. */
export interface NodePorts {
  /** Ingress-mode ports of every service: on every node, through the mesh. */
  ingress: { service: ServiceIntent; networkId: string; port: PublishedPort }[];
  /** Host-mode ports of this node's running tasks, to the task. */
  host: { task: TaskIntent; container: ContainerRecord; port: PublishedPort }[];
  /** Standalone containers' `-p` mappings whose port no service holds on this node. */
  mappings: { container: ContainerRecord; mapping: PortMapping }[];
}

export function nodePorts(
  intent: IntentState | undefined,
  containers: readonly ContainerRecord[],
): NodePorts {
  const out: NodePorts = { ingress: [], host: [], mappings: [] };
  for (const service of intent?.services.values() ?? []) {
    const networkId = service.ingress?.networkId;
    if (networkId === undefined) continue;
    for (const port of service.ports)
      if (port.mode === "ingress") out.ingress.push({ service, networkId, port });
  }
  for (const container of containers) {
    const task = intent?.tasks.get(container.labels["taskId"] ?? "");
    if (task === undefined || container.status !== "running" || container.gatewayIp === undefined) continue;
    for (const port of task.ports) if (port.mode === "host") out.host.push({ task, container, port });
  }
  // A service's port published later than a container's `-p` of the same port wins: the
  // managers do not know node-local mappings, and the mesh refuses a port used twice.
  const held = new Set([
    ...out.ingress.map((i) => portKey(i.port.protocol, i.port.publishedPort)),
    ...out.host.map((h) => portKey(h.port.protocol, h.port.publishedPort)),
  ]);
  for (const container of containers) {
    if (publishTarget(container) === undefined) continue;
    for (const mapping of container.ports ?? [])
      if (!held.has(portKey(mapping.protocol, mapping.hostPort))) out.mappings.push({ container, mapping });
  }
  return out;
}

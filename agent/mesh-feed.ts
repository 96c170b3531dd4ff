/**
 * Pure functions from (services intent, endpoint facts, this node's containers) to the
 * nftables desired state the mesh engine applies (agent/ingress):
 *
 * - the node namespace: `run -p` mappings to containers' gateway-bridge addresses; every
 *   ingress-mode published port of every service, balanced
 *   over the live task endpoints of that service on the ingress network (wherever they
 *   run), masqueraded to this node's ingress address; host-mode ports of this node's own
 *   tasks, to their gateway-bridge address; egress masquerade for the gateway bridge.
 * - each container namespace: the VIPs of the services on the container's networks,
 *   balanced in the container's own output hook (Docker balances in every sandbox too).
 *
 * Backends come from gossip, so a task on a node declared dead drops out everywhere as
 * soon as NetworkDB hides its entries; backends are sorted so the state is canonical.
 */
import type { EndpointFact } from "./attachments.js";
import type { IntentState } from "./dispatcher/index.js";
import { GW_BRIDGE, GW_SUBNET } from "./gwbridge/index.js";
import type {
  HostPublication,
  IngressPublication,
  MeshState,
  PortMapping,
  ServiceVip,
} from "./ingress/index.js";
import type { ContainerRecord } from "./sandbox/index.js";

function backends(facts: readonly EndpointFact[], serviceId: string, networkId: string): string[] {
  return facts
    .filter((f) => f.serviceId === serviceId && f.networkId === networkId)
    .map((f) => f.ip)
    .sort();
}

export function nodeMeshState(
  intent: IntentState | undefined,
  facts: readonly EndpointFact[],
  containers: readonly ContainerRecord[],
  egress: boolean,
): MeshState {
  const state: MeshState = {};
  if (egress) state.egress = { sourceCidrs: [GW_SUBNET], bridges: [GW_BRIDGE] };
  const portMappings: PortMapping[] = containers.flatMap((c) =>
    c.gatewayIp === undefined
      ? []
      : (c.ports ?? []).map((p) => ({
          containerId: c.name,
          ...(p.hostIp === "" ? {} : { hostIp: p.hostIp }),
          protocol: p.protocol,
          hostPort: p.hostPort,
          containerIp: c.gatewayIp ?? "",
          containerPort: p.containerPort,
        })),
  );
  if (portMappings.length > 0) state.portMappings = portMappings;
  if (intent === undefined) return state;
  const ingress: IngressPublication[] = [];
  for (const s of intent.services.values()) {
    const net = s.ingress?.networkId;
    for (const p of s.ports) {
      if (p.mode !== "ingress" || net === undefined) continue;
      ingress.push({
        serviceId: s.name,
        protocol: p.protocol,
        publishedPort: p.publishedPort,
        targetPort: p.targetPort,
        backends: backends(facts, s.id, net),
      });
    }
  }
  const hostPorts: HostPublication[] = [];
  for (const c of containers) {
    const task = intent.tasks.get(c.labels["taskId"] ?? "");
    if (task === undefined || c.status !== "running" || c.gatewayIp === undefined) continue;
    for (const p of task.ports) {
      if (p.mode !== "host") continue;
      hostPorts.push({
        taskId: task.id,
        protocol: p.protocol,
        publishedPort: p.publishedPort,
        targetIp: c.gatewayIp,
        targetPort: p.targetPort,
      });
    }
  }
  state.ingress = ingress;
  state.hostPorts = hostPorts;
  // A service's port published later than a container's `-p` of the same port wins: the
  // managers do not know node-local mappings, and the mesh refuses a port used twice.
  const servicePorts = new Set([...ingress, ...hostPorts].map((p) => `${p.protocol}/${p.publishedPort}`));
  if (state.portMappings !== undefined) {
    state.portMappings = state.portMappings.filter((m) => !servicePorts.has(`${m.protocol}/${m.hostPort}`));
  }
  if (intent.ingressEndpoint !== undefined) state.ingressSource = intent.ingressEndpoint.ip;
  if (intent.cluster !== undefined && intent.cluster.dataPathPort > 0)
    state.dataPathPort = intent.cluster.dataPathPort;
  return state;
}

/** The VIPs a container balances: services with a VIP on one of its networks. */
export function containerMeshState(
  intent: IntentState | undefined,
  facts: readonly EndpointFact[],
  container: ContainerRecord,
): MeshState | undefined {
  if (intent === undefined) return undefined;
  const networks = new Set(container.endpoints.map((e) => e.network.id));
  const vips: ServiceVip[] = [];
  for (const s of intent.services.values()) {
    if (s.endpointMode !== "vip") continue;
    for (const v of s.vips) {
      if (!networks.has(v.networkId)) continue;
      vips.push({
        serviceId: s.name,
        network: v.networkId,
        vip: v.ip,
        backends: backends(facts, s.id, v.networkId),
      });
    }
  }
  return vips.length === 0 ? undefined : { vips };
}

/**
 * Pure functions from (services intent, endpoint facts, this node's containers) to the
 * nftables desired state the mesh engine applies (agent/ingress):
 *
 * - the node namespace: `run -p` mappings to containers' address on their bridge network
 *   (or on the gateway bridge); every
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
import type { EndpointFact } from "../attachments.js";
import type { IntentState } from "../dispatcher/index.js";
import type { ContainerRecord } from "../sandbox/container.js";
import { nodePorts, publishTarget } from "../sandbox/host-ports.js";
import type {
  EgressMasquerade,
  HostPublication,
  IngressPublication,
  MeshState,
  PortMapping,
  ServiceVip,
} from "./mesh-state.js";

const EMPTY: readonly string[] = [];
const indexes = new WeakMap<readonly EndpointFact[], Map<string, string[]>>();

/**
 * Task addresses of `serviceId` on `networkId`, sorted. The facts are indexed once per
 * version of the table (the array is the same object until it changes), so a pass costs
 * O(facts + services), not O(facts × services).
 */
function backends(facts: readonly EndpointFact[], serviceId: string, networkId: string): readonly string[] {
  let index = indexes.get(facts);
  if (index === undefined) {
    index = new Map();
    for (const f of facts) {
      if (f.serviceId === "") continue;
      const k = `${f.serviceId}/${f.networkId}`;
      const list = index.get(k);
      if (list === undefined) index.set(k, [f.ip]);
      else list.push(f.ip);
    }
    for (const list of index.values()) list.sort();
    indexes.set(facts, index);
  }
  return index.get(`${serviceId}/${networkId}`) ?? EMPTY;
}

export function nodeMeshState(
  intent: IntentState | undefined,
  facts: readonly EndpointFact[],
  containers: readonly ContainerRecord[],
  egress: EgressMasquerade | undefined,
): MeshState {
  const state: MeshState = {};
  if (egress !== undefined) state.egress = egress;
  const ports = nodePorts(intent, containers);
  const portMappings: PortMapping[] = ports.mappings.map(({ container: c, mapping: p }) => ({
    containerId: c.name,
    ...(p.hostIp === "" ? {} : { hostIp: p.hostIp }),
    protocol: p.protocol,
    hostPort: p.hostPort,
    containerIp: publishTarget(c) ?? "",
    containerPort: p.containerPort,
  }));
  if (portMappings.length > 0) state.portMappings = portMappings;
  if (intent === undefined) return state;
  state.ingress = ports.ingress.map(({ service, networkId, port }): IngressPublication => ({
    serviceId: service.name,
    protocol: port.protocol,
    publishedPort: port.publishedPort,
    targetPort: port.targetPort,
    backends: backends(facts, service.id, networkId),
  }));
  state.hostPorts = ports.host.map(({ task, container, port }): HostPublication => ({
    taskId: task.id,
    protocol: port.protocol,
    publishedPort: port.publishedPort,
    targetIp: container.gatewayIp ?? "",
    targetPort: port.targetPort,
  }));
  if (intent.ingressEndpoint !== undefined) state.ingressSource = intent.ingressEndpoint.ip;
  return state;
}

/** The VIPs a container balances: services with a VIP on one of its networks. */
export function containerMeshState(
  intent: IntentState | undefined,
  facts: readonly EndpointFact[],
  container: ContainerRecord,
): MeshState | undefined {
  if (intent === undefined) return undefined;
  const networks = new Set(container.endpoints.map((e) => e.networkId));
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

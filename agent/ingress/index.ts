/**
 * The routing mesh and publishing engine: a namespace's whole nftables table `swarmnet`
 * (family ip), rendered from a typed desired state, applied as one atomic `nft -f -`,
 * updated by element changes only.
 *
 * For the agent (the reconciler feeds it from services intent + the gossip tables):
 *
 *   const mesh = new Mesh(executor, { netns: "sn-L-n1", log });   // a node namespace
 *   await mesh.apply({
 *     ingress: [{ serviceId: "web", protocol: "tcp", publishedPort: 8080, targetPort: 80,
 *                 backends: ["10.255.0.5", "10.255.0.6"] }],   // task IPs on the ingress network
 *     ingressSource: "10.255.0.2",                              // this node's ingress0 address
 *     hostPorts: [...], portMappings: [...], egress: {...},
 *   });                                    // → ApplyStats; throws SwarmnetError on bad input
 *   await mesh.resync();                   // full re-render, repairs drift (the agent's resync pass)
 *   await mesh.flush();  mesh.stop();
 *
 *   - `apply` takes the *whole* desired state every time; cost is O(changed) kernel work
 *     (+ an O(services) comparison that allocates nothing). Bad input (a port published twice, an invalid
 *     protocol, a bad address) throws `SwarmnetError` (SWARMNET_INVALID_ARGUMENT,
 *     SWARMNET_PORT_IN_USE, SWARMNET_CONFLICT) naming the entry, and nothing runs.
 *   - Removing a backend deletes its conntrack entries right after the ruleset change.
 *   - One Mesh per namespace. VIPs work wherever the client's packets meet a table: in a
 *     container namespace (output hook; Docker balances VIPs inside each sandbox the same
 *     way; give that Mesh `config: { forwarding: false }`) or a routing namespace
 *     (prerouting). No SNAT is done for VIPs: a client and a backend on one bridge behind
 *     the balancing namespace (hairpin) would need it; balance in the client's namespace.
 *   - `renderRuleset(state)` is the pure renderer (full script text), for tests and tools.
 *   - `LoadBalancer` is the seam both engines fill: `Mesh` (nftables maps) and `IpvsMesh`
 *     (IPVS fwmark services, ipvs-mesh.ts), chosen by probe (`chooseMeshBackend`) and
 *     made by `createMesh`.
 */
export { Mesh, sizeOf, type MeshOptions } from "./mesh.js";
export { MESH_DEFAULTS, loadMeshConfig, type MeshConfig } from "./config.js";
export type { ApplyStats, LoadBalancer, RulesetSize } from "./load-balancer.js";
export {
  L4_PROTOCOLS,
  type EgressMasquerade,
  type HostPublication,
  type IngressPublication,
  type L4Protocol,
  type MeshState,
  type PortMapping,
  type ServiceVip,
  type VipPort,
} from "./mesh-state.js";
export { renderRuleset, renderFullScript, renderChangeScript } from "./render.js";
export { buildModel, TABLE_FAMILY, TABLE_NAME, INGRESS_MARK, type TableModel } from "./ruleset-model.js";
export { diffModels } from "./diff.js";
export { assignSlots } from "./slots.js";
export { nodeMeshReconciler, ContainerMeshes, createMesh, type NodeMesh } from "./mesh-reconciler.js";
export { IpvsMesh } from "./ipvs-mesh.js";
export {
  chooseMeshBackend,
  MESH_BACKEND_CHOICES,
  type MeshBackendChoice,
  type MeshBackendDecision,
  type MeshBackendKind,
} from "./backend-choice.js";
export { buildIpvsModel, diffIpvs, parseIpvsSave, ingressMark, VIP_MARK } from "./ipvs-model.js";
export { renderMarksScript, MARKS_TABLE } from "./ipvs-marks.js";

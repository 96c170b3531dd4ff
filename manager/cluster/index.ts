/** The cluster's public face: init/join/leave, join tokens, node listing and removal. */
export {
  ClusterService,
  CLUSTER_DEFAULTS,
  INGRESS_NETWORK,
  type ClusterView,
  type InitInput,
  type JoinInput,
  type JoinResult,
  type NodeAddressInput,
  type UpdateInput,
} from "./cluster-service.js";
export { NodeService, nodeViews, resolveNode, type NodeView } from "./node-service.js";
export { clusterFingerprint, formatJoinToken, parseJoinToken, roleForToken } from "./tokens.js";
export { hashSecret, newId, newSecret, sameSecret } from "./ids.js";
export { checkNodeCredential } from "./node-auth.js";

/** The cluster's public face: init/join/leave, join tokens, node listing and removal. */
export {
  ClusterService,
  CLUSTER_DEFAULTS,
  INGRESS_NETWORK,
  TASK_HISTORY,
  type ClusterView,
  type InitInput,
  type JoinInput,
  type JoinResult,
  type NodeAddressInput,
  type UpdateInput,
} from "./cluster-service.js";
export {
  applyLabelChanges,
  NodeService,
  nodeViews,
  parseLabelChanges,
  resolveNode,
  type LabelChanges,
  type NodeView,
} from "./node-service.js";
export { roleForToken } from "./tokens.js";
export { formatJoinToken, parseJoinToken } from "../../common/pki/join-token.js";
export { hashSecret, newId, newSecret, sameSecret } from "./ids.js";
export { checkMember } from "./node-auth.js";
export {
  CA_DEFAULTS,
  CaRotationJob,
  CertificateAuthority,
  caDigest,
  certExpiryOf,
  checkCertExpiry,
  newCaRecord,
  type CaStatusView,
  type IssuedCertificate,
} from "./certificate-authority.js";

/** Networks' public face: Docker-semantics create/ls/inspect/rm/prune over the store. */
export {
  NetworkService,
  planNetwork,
  planRemoval,
  resolveNetwork,
  underlayPrefixes,
  notInitialised,
  type NetworkView,
  type NetworkServiceOptions,
} from "./network-service.js";
export {
  parseNetworkSpec,
  DEFAULT_DRIVER,
  DRIVER_SCOPES,
  OPT_DOCKER_MTU,
  OPT_ENCRYPTED,
  OPT_MTU,
  OPT_VXLANID_LIST,
  type CreateNetworkInput,
  type NetworkSpec,
} from "../../common/network-spec.js";
export {
  AttachmentService,
  notAttachableReason,
  type AttachInput,
  type AttachResult,
  type NodeCredential,
  type ReleaseInput,
} from "./attachment-service.js";
export { addressInfo, addressSpaces, TxnAddresses, type AllocatedAddress } from "./address-allocation.js";
export { networkUsage, type EndpointView, type NetworkUsage, type PeerView } from "./network-usage.js";

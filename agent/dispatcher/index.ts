/**
 * The agent's dispatcher: the client end of the managers' intent stream, the typed
 * intent it yields, the certificate renewer, the node's membership (cluster.json) that tells the agent
 * whether to open the stream at all, and the managers' attachments API for standalone
 * containers (`ManagerAttacher`). See `client.ts` for the protocol.
 */
export {
  DispatcherClient,
  DISPATCHER_CLIENT_DEFAULTS,
  type ConnectedEvent,
  type DisconnectedEvent,
  type DispatcherClientEvents,
  type DispatcherClientOptions,
  type HeartbeatEvent,
  type TaskStatusReport,
} from "./client.js";
export { keyRingFromProto, networkFromProto, serviceFromProto, taskFromProto } from "./intent-codec.js";
export { CertificateRenewer, renewalTime, RENEWAL_DEFAULTS, type RenewerOptions } from "./renewal.js";
export {
  applyBatch,
  diffSnapshot,
  emptyState,
  driverNetworkFor,
  dataPathPort,
  knownDataPathPort,
  taskAttachments,
  type ClusterSettings,
  type GossipSeed,
  type IngressEndpointIntent,
  type IntentEvent,
  type IntentState,
  type IpamConfigIntent,
  type NetworkIntent,
  type PublishedPort,
  type ServiceIntent,
  type ServiceVipIntent,
  type TaskIntent,
  type TaskNetworkIntent,
} from "./intent.js";
export {
  CREDENTIALS_FILE,
  credentialsPath,
  readCredentials,
  removeCredentials,
  writeCredentials,
  type ClusterCredentials,
} from "./credentials.js";
export {
  ClusterMembership,
  interfaceAddresses,
  type MembershipEvents,
  type MembershipOptions,
} from "./membership.js";
export { ManagerAttacher } from "./attacher.js";
export { DEFAULT_DATA_PATH_PORT } from "../../common/cluster-types.js";

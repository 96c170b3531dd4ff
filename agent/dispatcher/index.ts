/**
 * The agent's dispatcher: the client end of the managers' intent stream, the typed
 * intent it yields, and the node's cluster credentials (cluster.json) that tell the
 * agent whether to open the stream at all. See `client.ts` for the protocol.
 */
export {
  DispatcherClient,
  DISPATCHER_CLIENT_DEFAULTS,
  type ConnectedEvent,
  type DisconnectedEvent,
  type DispatcherClientEvents,
  type DispatcherClientOptions,
} from "./client.js";
export {
  applyBatch,
  diffSnapshot,
  emptyState,
  networkFromProto,
  type ClusterSettings,
  type GossipSeed,
  type IntentEvent,
  type IntentState,
  type IpamConfigIntent,
  type NetworkIntent,
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

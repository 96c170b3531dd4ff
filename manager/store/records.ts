/**
 * The records stored as JSON values under the keys of `keys.ts`. Field names are the
 * storage format: add optional fields freely, never rename or change a meaning (old
 * managers may read what new ones wrote during an upgrade).
 *
 * `decode` is the single place stored JSON becomes a typed record; a value that is not
 * a JSON object is reported with its key as corrupt instead of failing somewhere later.
 */
import type { NodeCapabilities, PublishedPort, TaskNetworkIntent } from "../../common/cluster-types.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export type NodeRole = "manager" | "worker";
export type NodeAvailability = "active" | "pause" | "drain";
export type NetworkScope = "swarm" | "local";

export interface JoinTokenSecrets {
  worker: string;
  manager: string;
}

export interface ClusterRecord {
  id: string;
  createdAt: string;
  /** Global-scope pools new overlay subnets are carved from (CIDRs). */
  defaultAddrPools: string[];
  /** Prefix length of each subnet carved from the default pools. */
  subnetSize: number;
  /** UDP port of the VXLAN data path (Docker's --data-path-port; 4789 by default). */
  dataPathPort: number;
  /** The secret part of the current join tokens (the token adds the cluster fingerprint). */
  joinSecrets: JoinTokenSecrets;
  /** How often the leader rotates encryption keys. */
  keyRotationIntervalMs: number;
  /** Lamport clock of the key schedule: the tag of the newest key. */
  keyClock: number;
  /**
   * When the keys last rotated (ISO time; `createdAt` when absent): the next scheduled
   * rotation is due `keyRotationIntervalMs` after it. Kept here, not in a leader's memory,
   * so a new leader neither rotates again nor skips one.
   */
  lastKeyRotationAt?: string;
  /** `swarm init --autolock` / `swarm update --autolock`: managers keep the KEK wrapped. */
  autolock?: boolean;
  /** The unlock key (SWMKEY-1-…); the record is sealed (manager/keys/sealed-kv.ts). */
  unlockKey?: string;
  /** Validity of node certificates (`--cert-expiry`); 90 days when absent. */
  certExpiryMs?: number;
  /** Tasks kept per slot (`swarm update --task-history-limit`); the manager's default (5) when absent. */
  taskHistoryLimit?: number;
}

/**
 * The cluster CA (manager/cluster/certificate-authority.ts), sealed in etcd. During a
 * rotation the bundle holds the old and the new root, and `crossSigned` (the new root
 * signed by the old key) follows every node certificate the new key issues.
 */
export interface CaRecord {
  /** 1 at init, +1 per `swarm ca --rotate`. */
  generation: number;
  /** The root that issues node certificates now (PEM). */
  signingCert: string;
  /** Its private key (PKCS#8 PEM). */
  signingKey: string;
  /** Every root nodes trust now (PEM). */
  trustBundle: string;
  crossSigned?: string;
  rotationStartedAt?: string;
}

export type { KernelCapability as KernelCapabilityRecord } from "../../common/cluster-types.js";

export interface NodeRecord {
  id: string;
  hostname: string;
  role: NodeRole;
  availability: NodeAvailability;
  advertiseAddr: string;
  /** Every underlay address the agent reported; IPAM keeps subnets clear of them. */
  underlayAddrs: string[];
  capabilities: NodeCapabilities | undefined;
  /**
   * Non-empty while the node is a member: sha256 (hex) of its latest certificate's serial
   * (of its secret before certificates existed); "" once the node left — its certificate
   * is refused from then on.
   */
  credentialHash: string;
  /** The CA generation that issued the node's latest certificate (rotation progress). */
  certGeneration?: number;
  /** Docker's Spec.Labels (`node update --label-add/--label-rm`); absent = none. */
  labels?: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export interface SessionRecord {
  nodeId: string;
  sessionId: string;
  /** Node name of the manager serving the session. */
  manager: string;
  since: string;
}

export interface ManagerRecord {
  nodeName: string;
  /** gRPC address agents and the CLI dial (host:port). */
  address: string;
  since: string;
}

export interface IpamConfigRecord {
  subnet: string;
  gateway: string;
  ipRange?: string;
  auxAddresses: Record<string, string>;
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  scope: NetworkScope;
  createdAt: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  ipam: { driver: string; configs: IpamConfigRecord[]; options: Record<string, string> };
  options: Record<string, string>;
  labels: Record<string, string>;
  /** VXLAN network id (overlay only). */
  vni?: number;
  encrypted: boolean;
  /** MTU from `mtu` / `com.docker.network.driver.mtu`, when set. */
  mtu?: number;
}

export interface SubnetRecord {
  networkId: string;
  scope: NetworkScope;
}

export interface AddressRecord {
  /** Who holds the address, e.g. "container:<id>", "task:<id>", "vip:<serviceId>", "static". */
  owner: string;
}

export type AttachmentKind = "service" | "task" | "container" | "node";

export interface AttachmentRecord {
  kind: AttachmentKind;
  id: string;
  name: string;
  /** The node the endpoint lives on (tasks, containers, node endpoints; not a VIP). */
  nodeId?: string;
  /** The endpoint's address (a VIP for a service). */
  ip?: string;
}

/** The owner segment of an attachment key and the owner of its address. */
export function attachmentOwner(kind: AttachmentKind, id: string): string {
  return `${kind}:${id}`;
}

export interface AddressCursorRecord {
  /** The address the next dynamic allocation starts its search at (dotted quad). */
  next: string;
}

export type ServiceMode = "replicated" | "global";
export type EndpointMode = "vip" | "dnsrr";

/** A published port of a service: the shared type (common/cluster-types.ts). */
export type PortRecord = PublishedPort;

/** `ports/<protocol>/<port>`: who holds a published port. */
export interface PortOwnerRecord {
  serviceId: string;
  /** For messages ("already published by service web"). */
  serviceName?: string;
  mode: "ingress" | "host";
}

export interface ServiceVipRecord {
  networkId: string;
  ip: string;
}

export interface ServiceRecord {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  /** Bumped by every change of the record. */
  version: number;
  mode: ServiceMode;
  /** Replicated mode: the number of tasks wanted (0 for global mode). */
  replicas: number;
  endpointMode: EndpointMode;
  command: string[];
  env: Record<string, string>;
  /** Networks the user attached the service to (ids, in order); never the ingress network. */
  networks: string[];
  ports: PortRecord[];
  /**
   * One VIP per network the service is on (endpoint mode vip): its own networks plus the
   * ingress network while it has an ingress-mode port. Empty for dnsrr.
   */
  vips: ServiceVipRecord[];
  /**
   * Docker's UpdateConfig.Monitor (`--update-monitor`), in ms; 0 = the default, as in
   * Docker. Absent in records written before it existed: they mean 5 s.
   */
  updateMonitorMs?: number;
  /**
   * Docker's Placement.Constraints (`--constraint`), as typed and checked
   * (manager/services/placement-constraints.ts); absent = none.
   */
  constraints?: string[];
}

/**
 * Observed task states. pending: no node fits yet; assigned: on a node, its agent has not
 * reported; running; failed (exit code); shutdown (stopped on purpose); orphaned: its
 * node went away.
 */
export type TaskState = "pending" | "assigned" | "running" | "failed" | "shutdown" | "orphaned";

export type TaskNetworkRecord = TaskNetworkIntent;

export interface TaskRecord {
  id: string;
  serviceId: string;
  serviceName: string;
  /** Replicated: 1…replicas. Global: 0 (one task per node). */
  slot: number;
  /** "" while pending. */
  nodeId: string;
  desiredState: "running" | "shutdown";
  createdAt: string;
  updatedAt: string;
  command: string[];
  env: Record<string, string>;
  /** Addresses allocated when the task was created (plus ingress while needed). */
  networks: TaskNetworkRecord[];
  ports: PortRecord[];
  state: TaskState;
  message: string;
  exitCode: number;
  /** When `state` last changed (ISO time). */
  stateAt: string;
  /**
   * True once the task's sandbox is gone (its agent said so, or its node went away): its
   * addresses are freed and it is kept only as history for `service ps`.
   */
  released: boolean;
}

export interface EncryptionKeyRecord {
  kind: "data" | "gossip";
  /** Lamport tag: orders keys cluster-wide; agents name keys by it, never by content. */
  tag: number;
  /** Key material, base64. Never logged. */
  key: string;
  createdAt: string;
}

export function encode(record: object): string {
  return JSON.stringify(record);
}

export function decode<T extends object>(key: string, value: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.Internal, `corrupt record at ${key}: not JSON`, { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SwarmnetError(ErrorCode.Internal, `corrupt record at ${key}: not an object`);
  }
  return parsed as T;
}

/**
 * What the agent and the managers both speak, declared once: networks, services, tasks,
 * published ports, cluster settings — as plain typed values, independent of the wire.
 * The wire (proto/*.proto, types generated into proto/generated) carries them; each side
 * has one codec: the managers encode from their store records (manager/grpc/convert.ts),
 * the agent decodes the dispatcher stream (agent/dispatcher/intent.ts). Everything here
 * is the managers' *intent*: the agent never writes it back.
 */
import type { PublishedPort } from "./publish-spec.js";

export type { PublishedPort, PublishMode, PublishProtocol } from "./publish-spec.js";

/** The VXLAN UDP port of a cluster that did not choose one (IANA's, Docker's default). */
export const DEFAULT_DATA_PATH_PORT = 4789;

/** The networks every node has on its own (Docker's): no cluster network may take these names. */
export const PREDEFINED_NETWORK_NAMES: readonly string[] = ["bridge", "host", "none"];

/** One kernel feature as the agent's probe found it. */
export interface KernelCapability {
  name: string;
  available: boolean;
  detail: string;
}

/** What a node says it can do, with its node description (`node inspect` shows it). */
export interface NodeCapabilities {
  kernelRelease: string;
  features: KernelCapability[];
  /** The network drivers its agent runs (absent from agents older than the driver registry). */
  drivers?: string[];
  /** Docker's Platform.OS ("linux"); absent from older agents. */
  os?: string;
  /** Docker's Platform.Architecture, as uname -m says it ("x86_64"); absent from older agents. */
  arch?: string;
}

export interface IpamConfigIntent {
  subnet: string;
  gateway: string;
  ipRange: string | undefined;
  auxAddresses: Record<string, string>;
}

export interface NetworkIntent {
  id: string;
  name: string;
  driver: string;
  scope: "swarm" | "local";
  createdAt: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  ipam: { driver: string; configs: IpamConfigIntent[]; options: Record<string, string> };
  options: Record<string, string>;
  labels: Record<string, string>;
  /** VXLAN id, overlay networks only. */
  vni: number | undefined;
  encrypted: boolean;
  /** MTU asked for with an option; undefined = the driver's default. */
  mtu: number | undefined;
}

export interface GossipSeed {
  nodeId: string;
  hostname: string;
  address: string;
}

export interface ClusterSettings {
  clusterId: string;
  dataPathPort: number;
}

/** A service's virtual IP on one of its networks (endpoint mode vip). */
export interface ServiceVipIntent {
  networkId: string;
  ip: string;
  prefixLength: number;
}

export interface ServiceIntent {
  id: string;
  name: string;
  mode: "replicated" | "global";
  /** Replicated mode: tasks wanted (0 for global). */
  replicas: number;
  /** vip: one VIP per network balances over the tasks; dnsrr: no VIP, DNS round robin. */
  endpointMode: "vip" | "dnsrr";
  ports: PublishedPort[];
  /** One per network in `networks` (endpoint mode vip), the ingress network included. */
  vips: ServiceVipIntent[];
  /** Every network the service's tasks are on: its own plus ingress while it has an ingress port. */
  networks: string[];
  /** The ingress network and the service's VIP on it, while an ingress-mode port is published. */
  ingress: { networkId: string; vip: string } | undefined;
  /** Bumped by every change of the service. */
  version: number;
}

/** A task's address on one network (allocated by the managers when the task was made). */
export interface TaskNetworkIntent {
  networkId: string;
  ip: string;
}

/** A task assigned to this node. */
export interface TaskIntent {
  id: string;
  serviceId: string;
  serviceName: string;
  /** "web.1" (replicated) or "web.<node id>" (global), as `service ps` shows it. */
  name: string;
  /** "web.1.<task id>": the container's name, unique; also SWARMNET_TASK_NAME. */
  containerName: string;
  /** 1…replicas; 0 for global mode. */
  slot: number;
  nodeId: string;
  /** running: run it (keep it running); shutdown: stop and remove it, then report shutdown. */
  desiredState: "running" | "shutdown";
  command: string[];
  /** Includes SWARMNET_TASK_NAME, SWARMNET_SERVICE_NAME, SWARMNET_SERVICE_ID, SWARMNET_TASK_ID, SWARMNET_TASK_SLOT. */
  env: Record<string, string>;
  /** One endpoint per network, in order (the first is the default route's). */
  networks: TaskNetworkIntent[];
  /** The service's published ports (host-mode ones open on this node to this task). */
  ports: PublishedPort[];
}

/** This node's address on the ingress network. */
export interface IngressEndpointIntent {
  networkId: string;
  ip: string;
}

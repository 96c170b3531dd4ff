/**
 * The desired state of a node's nftables table `swarmnet`, as the agent's reconciler
 * hands it over (from services intent + the gossip load-balancer tables): what is
 * published and where each published port or VIP goes. Plain data, no behaviour: the model (`ruleset-model.ts`) turns it into
 * table elements, validating as it goes.
 *
 * Every list is optional so a caller fills only what it owns on that namespace (a node
 * namespace: ingress, host ports, `-p`, egress; a container namespace: its
 * networks' VIPs). Addresses are IPv4 text, ports integers 1–65535.
 */

/** Transport protocols a port can be published with (Docker's tcp and udp). */
export type L4Protocol = "tcp" | "udp";

export const L4_PROTOCOLS: readonly L4Protocol[] = ["tcp", "udp"];

/**
 * A port published in ingress mode: reached on every address of every node, balanced over
 * `backends` (task IPs on the ingress network, wherever they run), masqueraded to the
 * node's ingress-side address so replies come back through the node that took the
 * connection. No backends: the port is reserved but refuses connections.
 */
export interface IngressPublication {
  /** Service that owns the port (names the port in errors and in `nft list` comments). */
  serviceId: string;
  protocol: L4Protocol;
  publishedPort: number;
  targetPort: number;
  backends: readonly string[];
}

/** One port of a port-based VIP; `targetPort` defaults to `port`. */
export interface VipPort {
  protocol: L4Protocol;
  port: number;
  targetPort?: number;
}

/**
 * A service's virtual IP on one of its networks, balanced over the service's task IPs on
 * that network. With `ports`, only those ports are balanced (to `targetPort`); without,
 * the whole address is (every protocol and port, unchanged: Docker's fwmark service).
 */
export interface ServiceVip {
  serviceId: string;
  /** Network the VIP lives on (for messages only). */
  network: string;
  vip: string;
  ports?: readonly VipPort[];
  backends: readonly string[];
}

/**
 * A host-mode publication: the port opens on this node only and goes to this node's task
 * (the scheduler never puts two tasks wanting one host port on a node). No masquerade:
 * the task sees the client's address, as with Docker's host mode.
 */
export interface HostPublication {
  /** Task that owns the port. */
  taskId: string;
  protocol: L4Protocol;
  publishedPort: number;
  targetIp: string;
  targetPort: number;
}

/**
 * A standalone container's `-p [hostIp:]hostPort:containerPort[/proto]`. Without
 * `hostIp` (or with 0.0.0.0) every local address answers.
 */
export interface PortMapping {
  containerId: string;
  hostIp?: string;
  protocol: L4Protocol;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/**
 * Egress masquerade for containers' node-local bridges (Docker's docker_gwbridge): traffic
 * from `sourceCidrs` leaving through any interface except `bridges` is masqueraded.
 */
export interface EgressMasquerade {
  sourceCidrs: readonly string[];
  bridges: readonly string[];
}

export interface MeshState {
  ingress?: readonly IngressPublication[];
  /** Source address for ingress traffic sent to backends; absent: masquerade to the outgoing interface's address. */
  ingressSource?: string;
  vips?: readonly ServiceVip[];
  hostPorts?: readonly HostPublication[];
  portMappings?: readonly PortMapping[];
  egress?: EgressMasquerade;
}

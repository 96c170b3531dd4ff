/**
 * What the overlay driver is asked to make true on one node, and what it observed there.
 * Desired state comes from the managers' intent (networks, this node's containers) and
 * the NetworkDB `endpoints` tables (every remote endpoint); observed state is read back
 * from the kernel on every reconcile, so the driver adopts what a previous agent left and
 * repairs what someone changed by hand.
 */

export interface OverlayNetwork {
  id: string;
  name: string;
  vni: number;
  /** e.g. "10.0.1.0/24" */
  subnet: string;
  /** The bridge's address in the subnet, e.g. "10.0.1.1". */
  gateway: string;
  /** MTU of every interface of the network: underlay MTU − 50 unless the `mtu` option says. */
  mtu: number;
  /** VXLAN UDP port: 4789 or the cluster's data-path port. */
  dstPort: number;
}

export interface LocalEndpoint {
  /** Stable id (container id + network id); names the veth. */
  id: string;
  networkId: string;
  /**
   * The container's namespace and the interface name inside it (eth0, eth1, …).
   * Undefined: the node's own namespace — how the node gets a port on the ingress
   * network (Docker's ingress-sbox endpoint) for the routing mesh.
   */
  containerNetns: string | undefined;
  ifname: string;
  ip: string;
  mac: string;
  /** Whether the container's default route goes through this network's gateway. */
  defaultRoute: boolean;
}

export interface RemoteEndpoint {
  networkId: string;
  ip: string;
  mac: string;
  /** The owner node's underlay address (its VXLAN tunnel endpoint). */
  vtep: string;
}

export interface OverlayDesired {
  networks: OverlayNetwork[];
  local: LocalEndpoint[];
  remote: RemoteEndpoint[];
  /**
   * Add and repair only, remove nothing: the agent just started and does not know yet
   * all it should hold (the managers' intent, the gossiped endpoints), so what a previous
   * agent left stays in place until it does.
   */
  addOnly?: boolean;
}

/** One overlay sandbox as found in the kernel. */
export interface ObservedSandbox {
  netns: string;
  vni: number;
  hasBridge: boolean;
  hasVxlan: boolean;
  /** Names of the endpoint veths attached to the bridge. */
  veths: Set<string>;
  /** Those of them with carrier (LOWER_UP): their container side exists and is up. */
  carrier: Set<string>;
  /** mac → vtep of permanent FDB entries on the VXLAN device. */
  fdb: Map<string, string>;
  /** ip → mac of permanent neighbour entries on the VXLAN device. */
  neighbours: Map<string, string>;
}

export interface ObservedOverlay {
  sandboxes: Map<number, ObservedSandbox>;
  /**
   * Local endpoint ids whose container side is configured: looked at closely (interface up
   * with its address) for the endpoints the pass picked, by carrier for the others.
   */
  healthyEndpoints: Set<string>;
}

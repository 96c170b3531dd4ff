/**
 * What a sub-interface driver (macvlan, ipvlan) is asked to make true on one node, and
 * what it found. An endpoint is a sub-interface of the network's parent, made in the
 * node's namespace under a temporary name, moved into the container and renamed there
 * (the node has its own eth0); a VLAN parent (`eth0.10`) exists while its network does.
 */
import type { SubKind, Vlan } from "../../../common/parent-network.js";

export interface SubEndpoint {
  key: string;
  kind: SubKind;
  parent: string;
  mode: string;
  netns: string;
  ifname: string;
  ip: string;
  prefix: number;
  /** The endpoint's MAC (macvlan); "" for ipvlan, which shares the parent's. */
  mac: string;
  /** 0: the parent's. */
  mtu: number;
  /** The default route: via this gateway, "dev" for a device route (ipvlan l3), or none. */
  defaultRoute: string | undefined;
}

export interface OwnedVlan extends Vlan {
  networkId: string;
}

export interface SubDesired {
  vlans: OwnedVlan[];
  endpoints: SubEndpoint[];
  addOnly?: boolean;
}

/** An endpoint made before (the driver remembers them, so a disconnect removes its device). */
export interface MadeEndpoint {
  key: string;
  netns: string;
  ifname: string;
}

export interface ObservedSub {
  /** VLAN devices we made (alias `swarmnet:<kind>:<network id>`), by name → network id. */
  vlans: Map<string, string>;
  /** Every device name of the node's namespace (a VLAN parent someone else made is used as is). */
  devices: Set<string>;
  /** Temporary endpoint devices left in the node's namespace by a failed pass. */
  strays: string[];
  /** Endpoint keys whose container has an interface of that name (of any kind). */
  present: Set<string>;
  /** … and it is the right kind, up, with the endpoint's address. */
  healthy: Set<string>;
  /** … and the container's default route is the one the endpoint should hold. */
  routed: Set<string>;
}

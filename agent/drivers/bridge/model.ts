/**
 * What the bridge driver is asked to make true on one node, and what it found there.
 * Desired state comes from the node's local networks (every bridge network has its Linux
 * bridge as long as the network exists, as Docker's do) and this node's containers on
 * them; observed state is read back from the kernel on every pass, so a restarted agent
 * adopts what is there and drift is repaired.
 */
import type { BridgeNetwork } from "./options.js";

export interface BridgeEndpoint {
  /** container id + network id: names the host-side veth. */
  key: string;
  device: string;
  netns: string;
  ifname: string;
  ip: string;
  prefix: number;
  mac: string;
  mtu: number;
  /** No traffic to the network's other ports (enable_icc=false). */
  isolated: boolean;
  /** The gateway of the container's default route when this endpoint holds it. */
  defaultVia: string | undefined;
}

export interface BridgeDesired {
  networks: BridgeNetwork[];
  endpoints: BridgeEndpoint[];
  /** Add and repair only (the agent just started): see NodeSnapshot.settling. */
  addOnly?: boolean;
}

export interface ObservedBridge {
  /** The network id in the device's alias (`swarmnet:<id>`); "" for a bridge not ours. */
  owner: string;
  up: boolean;
  mtu: number;
  addrs: string[];
}

export interface ObservedBridges {
  /** Bridge devices of the node, by name. */
  bridges: Map<string, ObservedBridge>;
  /** Host-side endpoint veths (ours by name) → their master bridge. */
  veths: Map<string, string | undefined>;
  /** Endpoint keys whose container side is up with its address. */
  healthy: Set<string>;
  /** Endpoint keys whose container has the default route the endpoint should hold. */
  routed: Set<string>;
}

/**
 * The VXLAN overlay driver (public face). Per overlay network with a local endpoint: a
 * sandbox namespace with a bridge holding the gateway and a VXLAN device (the network's
 * VNI, learning off, ARP proxy, no flooding entry); each local endpoint a veth from its
 * container into the bridge; each remote endpoint a permanent FDB + neighbour entry
 * pointing at its node's underlay address. See `plan.ts` for the order of operations.
 */
export { OverlayDriver, type OverlayDriverOptions, type ReconcileResult } from "./driver.js";
export type { OverlayDesired, OverlayNetwork, LocalEndpoint, RemoteEndpoint } from "./model.js";
export { planOverlay, type OverlayPlan } from "./plan.js";
export { sandboxNetns, vxlanDevice, endpointVeth } from "./names.js";

/** VXLAN's own overhead on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD_BYTES = 50;
export const DEFAULT_VXLAN_PORT = 4789;

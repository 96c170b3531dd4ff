/**
 * The VXLAN overlay driver (public face). Per overlay network with a local endpoint: a
 * sandbox namespace with a bridge holding the gateway and a VXLAN device (the network's
 * VNI, learning off, ARP proxy, no flooding entry); each local endpoint a veth from its
 * container into the bridge; each remote endpoint a permanent FDB + neighbour entry
 * pointing at its node's underlay address. See `plan.ts` for the order of operations.
 */
export { OverlayKernel, type OverlayKernelOptions, type ReconcileResult } from "./kernel.js";
export {
  OverlayDriver,
  INGRESS_IFNAME,
  VXLAN_OVERHEAD_BYTES,
  nodeIngressPort,
  type OverlayDriverDeps,
} from "./overlay-driver.js";
export { OverlayEncryption } from "./encryption.js";
export { OVERLAY } from "./endpoint-data.js";
export type { OverlayDesired, OverlayNetwork, LocalEndpoint, RemoteEndpoint } from "./model.js";
export { planOverlay, type OverlayPlan } from "./plan.js";
export { sandboxNetns, vxlanDevice, endpointVeth } from "./names.js";

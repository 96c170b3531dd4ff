/** The node-local gateway bridge for overlay containers' egress (public face). */
export * from "./gwbridge.js";
export { desiredGateway, gatewayReconciler } from "./gateway-reconciler.js";

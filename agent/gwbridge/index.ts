/** The node-local gateway bridge for overlay containers' egress (public face). */
export * from "./gwbridge.js";

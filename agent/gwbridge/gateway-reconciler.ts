/**
 * The gateway bridge as a reconciler: one port per container that has a gateway address
 * (its egress, and the node's way in for `-p` and host-mode ports), at the smallest MTU
 * of the container's networks and the underlay.
 */
import type { NodeSnapshot } from "../node-snapshot.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import { R } from "../reconcile/triggers.js";
import type { GatewayBridge, GatewayPort } from "./gwbridge.js";

export function desiredGateway(s: NodeSnapshot): GatewayPort[] {
  const ports: GatewayPort[] = [];
  for (const c of s.containers) {
    if (c.gatewayIp === undefined || c.netns === undefined) continue;
    const mtus = c.endpoints.map((e) => e.mtu).filter((m) => m > 0);
    ports.push({
      containerId: c.id,
      netns: c.netns,
      ip: c.gatewayIp,
      mtu: Math.min(s.node.underlayMtu, ...mtus),
    });
  }
  return ports;
}

export function gatewayReconciler(gateway: GatewayBridge): Reconciler<GatewayPort[]> {
  return {
    name: R.gateway,
    desired: desiredGateway,
    apply: async (ports, { resync }) => {
      await gateway.reconcile(ports, resync);
    },
  };
}

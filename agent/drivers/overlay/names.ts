/**
 * Kernel object names of the overlay driver, derived from stable ids so a restarted agent
 * finds what it made: sandbox namespace `<prefix>ov<vni>`, VXLAN device `vx<vni>`, endpoint
 * veth `ve<8 hex of sha1(endpoint id)>` (interface names are limited to 15 bytes).
 */
import { createHash } from "node:crypto";

export const BRIDGE = "br0";

export function sandboxNetns(prefix: string, vni: number): string {
  return `${prefix}ov${vni}`;
}

/** Inverse of `sandboxNetns`; undefined for any other namespace. */
export function vniOfSandbox(prefix: string, netns: string): number | undefined {
  if (!netns.startsWith(`${prefix}ov`)) return undefined;
  const rest = netns.slice(prefix.length + 2);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

export function vxlanDevice(vni: number): string {
  return `vx${vni}`;
}

export function endpointVeth(endpointId: string): string {
  return `ve${createHash("sha1").update(endpointId).digest("hex").slice(0, 8)}`;
}

/**
 * The overlay driver's own part of an endpoint record (`EndpointRecord.driverData`),
 * written when the endpoint is created and read back only here: what the VXLAN sandbox of
 * the endpoint's network is made of, kept with the container record so a restarted agent
 * can adopt the network's sandbox before the managers' intent arrives.
 */
import type { EndpointRecord } from "../../sandbox/container.js";

export const OVERLAY = "overlay";

export interface OverlayEndpointData {
  vni: number;
  /** e.g. "10.0.1.0/24": the IPAM config holding the endpoint's address. */
  subnet: string;
  /** VXLAN UDP port (the cluster's data-path port). */
  dstPort: number;
  encrypted: boolean;
}

export function overlayData(ep: EndpointRecord): OverlayEndpointData {
  const d = ep.driverData;
  return {
    vni: Number(d["vni"] ?? 0),
    subnet: String(d["subnet"] ?? ""),
    dstPort: Number(d["dstPort"] ?? 0),
    encrypted: d["encrypted"] === true,
  };
}

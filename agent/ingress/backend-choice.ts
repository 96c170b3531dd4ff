/**
 * Which engine balances this node's published ports and VIPs: IPVS where the probe found
 * ip_vs (as Docker's mesh), nftables otherwise; an operator may force either (agent
 * config `ingressBackend`, `--ingress-backend`). Forcing IPVS on a kernel without it is
 * one clear error at agent start, naming the probe's reason — never a silent fallback,
 * since the operator asked for it by name. Pure; the agent shows the decision in
 * `node inspect` as the pseudo-feature `mesh_backend`, as it does `encryption_backend`.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { hasFeature, type KernelCapabilities } from "../probe.js";

export const MESH_BACKEND_CHOICES = ["auto", "nftables", "ipvs"] as const;
export type MeshBackendChoice = (typeof MESH_BACKEND_CHOICES)[number];
export type MeshBackendKind = Exclude<MeshBackendChoice, "auto">;

export interface MeshBackendDecision {
  kind: MeshBackendKind;
  /** One line for logs and `node inspect`. */
  reason: string;
}

export function chooseMeshBackend(
  caps: KernelCapabilities,
  choice: MeshBackendChoice = "auto",
): MeshBackendDecision {
  const detail = caps.features.find((f) => f.name === "ipvs")?.detail ?? "not probed";
  const hasIpvs = hasFeature(caps, "ipvs");
  if (choice === "ipvs") {
    if (!hasIpvs)
      throw new SwarmnetError(
        ErrorCode.KernelUnsupported,
        `ingress backend "ipvs" needs ip_vs, which this kernel lacks (probe: ${detail})`,
      );
    return { kind: "ipvs", reason: "forced by configuration: IPVS fwmark services" };
  }
  if (choice === "nftables") return { kind: "nftables", reason: "forced by configuration: nftables maps" };
  return hasIpvs
    ? { kind: "ipvs", reason: "kernel has ip_vs: IPVS fwmark services" }
    : { kind: "nftables", reason: `kernel lacks ip_vs (probe: ${detail}): nftables maps` };
}

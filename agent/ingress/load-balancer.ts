/**
 * The seam between the agent and whatever balances published ports and VIPs on a node:
 * `Mesh` (nftables maps, `mesh.ts`), what this machine runs, and `IpvsMesh` (IPVS fwmark
 * services, `ipvs-mesh.ts`) where the probe finds ip_vs (backend-choice.ts). The IPVS
 * one keeps nftables for everything that is not balancing (host-mode ports, `-p`
 * mappings, egress masquerade, the ingress SNAT) and for marking ingress/VIP packets with
 * a per-service fwmark instead of jumping to a pick chain. Both take the same state and
 * report the same `ApplyStats` (for IPVS, its `ipvsadm` lines count as elements).
 */
import type { MeshState } from "./mesh-state.js";

export interface RulesetSize {
  rules: number;
  chains: number;
  sets: number;
  elements: number;
}

export interface ApplyStats {
  /** full: the table was replaced whole; incremental: element changes only; noop: nothing to do. */
  mode: "full" | "incremental" | "noop";
  /** An incremental change met a table that had drifted and was redone as a full replace. */
  repairedDrift: boolean;
  /** Wall time of the whole apply: build, render, nft (the conntrack cleanup runs after it). */
  totalMs: number;
  /** Wall time of the `nft -f -` run(s). */
  nftMs: number;
  elementsAdded: number;
  elementsDeleted: number;
  chainsAdded: number;
  chainsDeleted: number;
  /** Conntrack entries of removed backends this call deleted (a resync: those still queued). */
  conntrackDeleted: number;
  /** Conntrack filters of removed backends this call queued, deleted right after it returns. */
  conntrackQueued: number;
  scriptBytes: number;
  size: RulesetSize;
}

export interface LoadBalancer {
  /** Makes the kernel match `desired` (validated first: bad input changes nothing). */
  apply(desired: MeshState): Promise<ApplyStats>;
  /** Re-renders what was last applied, repairing drift. */
  resync(): Promise<ApplyStats>;
  /** Removes everything this balancer put in the kernel. */
  flush(): Promise<void>;
}

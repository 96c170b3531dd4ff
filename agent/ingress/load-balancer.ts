/**
 * The seam between the agent and whatever balances published ports and VIPs on a node.
 * `Mesh` (nftables, `mesh.ts`) is complete on its own and is what this machine runs.
 *
 * IPVS seam: where the probe finds ip_vs (`hasFeature(caps, "ipvs")`) an `IpvsMesh` may
 * implement this same interface: the nftables table would keep everything that is not
 * balancing (host-mode ports, `-p` mappings, egress masquerade,
 * and marking ingress/VIP packets with a per-service fwmark instead of jumping to a pick
 * chain), and IPVS would hold one fwmark virtual service per published port or VIP with
 * its backends as real servers (masquerading), driven through the executor (`ipvsadm
 * --restore`, one batch). Its idle timeouts must then be raised too (`ipvsadm
 * --set 432000 …`), or it cuts long idle connections the way moby#31208 describes. Not
 * built: this kernel has no ip_vs, and nothing here may depend on it.
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

/**
 * The nftables table `swarmnet_bridges` (family ip, in the node's namespace): what Docker's
 * DOCKER-ISOLATION chains and its hairpin masquerade do for bridge networks, rendered
 * whole from the bridge networks and applied as one `nft -f` transaction per change.
 *
 *   forward       a packet routed from one bridge network (or the gateway bridge) into
 *                 another is dropped — networks are isolated also by IP, as Docker's; an
 *                 `--internal` network's bridge passes nothing in or out
 *   postrouting   a DNATed connection (a `-p` port) that comes in from a bridge and goes
 *                 back out into one is masqueraded to the bridge's address: the hairpin
 *                 case, a container reaching a published port through the node's address,
 *                 whose answer must come back through the node to be un-DNATed
 *
 * A rule per network, not a set: a rule must compare a packet's in- and out-interface
 * with each other, which nft cannot do in one lookup; a node holds tens of networks, and
 * the table is rewritten whole in one transaction, so its cost is that of its text.
 * `icc=false` is not here: traffic between two ports of one bridge is bridged, not
 * routed, and never meets this table — the driver isolates those bridge ports instead.
 * Egress masquerade is the routing mesh's table (agent/ingress), beside the `-p` DNAT.
 */
import type { BridgeNetwork } from "./options.js";

export const ISOLATION_TABLE = "ip swarmnet_bridges";

/** `extraBridges`: other node-local bridges isolated from these (the gateway bridge). */
export function renderIsolation(networks: readonly BridgeNetwork[], extraBridges: readonly string[]): string {
  const T = ISOLATION_TABLE;
  if (networks.length === 0) return `table ${T}\ndelete table ${T}\n`;
  const devices = [...new Set([...networks.map((n) => n.device), ...extraBridges])].sort();
  const forward: string[] = [];
  for (const d of devices) {
    const n = networks.find((x) => x.device === d);
    const q = `"${d}"`;
    if (n?.internal === true)
      forward.push(`iifname ${q} oifname != ${q} drop`, `oifname ${q} iifname != ${q} drop`);
    else forward.push(`iifname ${q} oifname != ${q} oifname @bridges drop`);
  }
  // Emptied and refilled rather than deleted and made again: the table keeps its place
  // and handle, so a resync that finds nothing to change changes nothing a reader sees.
  return [
    `table ${T} { set bridges { type ifname; }; }`,
    `flush table ${T}`,
    `flush set ${T} bridges`,
    `table ${T} {`,
    "\tchain forward {",
    "\t\ttype filter hook forward priority filter; policy accept;",
    ...forward.map((r) => `\t\t${r}`),
    "\t}",
    "\tchain postrouting {",
    "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    "\t\tct status dnat iifname @bridges oifname @bridges masquerade",
    "\t}",
    "}",
    `add element ${T} bridges { ${devices.map((d) => `"${d}"`).join(", ")} }`,
    "",
  ].join("\n");
}

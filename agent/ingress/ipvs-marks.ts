/**
 * The nftables half of the IPVS backend: table `ip swarmnet_ipvs`, which only marks the
 * packets IPVS balances (ipvs-model.ts gives the marks). Everything else nftables does
 * for the mesh (host-mode ports, `-p`, egress masquerade, the ingress SNAT) stays in
 * table `swarmnet`, rendered by render.ts as for the nftables backend. Pure.
 *
 *   prerouting, output (filter, priority mangle: before IPVS's hooks, local-in for
 *   remote clients and local-out for the namespace's own) → jump balanced
 *   balanced: original-direction packets only (replies find their IPVS connection by tuple)
 *         to a local address: mark from @ingress_marks[l4proto . dport]   (published port)
 *         mark from @vip_port_marks[daddr . l4proto . dport]             (VIP, listed ports)
 *         mark from @vip_addr_marks[daddr]                               (VIP, whole address)
 *
 * A lookup that misses leaves the mark alone. One element per service, changed only
 * when a service's ports or VIPs change (never when a backend does: those are IPVS real
 * servers), so the table is small and is replaced whole when it changes.
 *
 * VIPs are balanced for the namespace's own connections (output), as Docker balances them
 * in each container's sandbox: IPVS takes requests at local-in and local-out only, so a
 * VIP packet this namespace merely forwards is marked but not balanced.
 */
import { MARK_MAPS, type IpvsModel, type MarkMap } from "./ipvs-model.js";
import { hex } from "./ruleset-model.js";

export const MARKS_TABLE = "ip swarmnet_ipvs";

const MAP_TYPES: Record<MarkMap, string> = {
  ingress_marks: "inet_proto . inet_service",
  vip_port_marks: "ipv4_addr . inet_proto . inet_service",
  vip_addr_marks: "ipv4_addr",
};

const MARK_RULES = [
  "ct direction original fib daddr type local meta mark set meta l4proto . th dport map @ingress_marks",
  "ct direction original meta mark set ip daddr . meta l4proto . th dport map @vip_port_marks",
  "ct direction original meta mark set ip daddr map @vip_addr_marks",
];

/** Rules, chains and maps of the table (for sizes). */
export const MARKS_TABLE_SIZE = { rules: MARK_RULES.length + 2, chains: 3, sets: MARK_MAPS.length };

/** The whole table, replacing whatever table `swarmnet_ipvs` exists (creating it first). */
export function renderMarksScript(model: IpvsModel): string {
  const out = [`table ${MARKS_TABLE}`, `delete table ${MARKS_TABLE}`, `table ${MARKS_TABLE} {`];
  for (const m of MARK_MAPS) out.push(`\tmap ${m} { type ${MAP_TYPES[m]} : mark; }`);
  out.push("\tchain balanced {", ...MARK_RULES.map((r) => `\t\t${r}`), "\t}");
  for (const hook of ["prerouting", "output"])
    out.push(
      `\tchain ${hook} {`,
      `\t\ttype filter hook ${hook} priority mangle; policy accept;`,
      "\t\tjump balanced",
      "\t}",
    );
  out.push("}");
  for (const m of MARK_MAPS) {
    const items = model.marks.filter((e) => e.map === m).map((e) => `${e.key} : ${hex(e.mark)}`);
    if (items.length > 0) out.push(`add element ${MARKS_TABLE} ${m} { ${items.join(", ")} }`);
  }
  return out.join("\n") + "\n";
}

/** Removes the table (and succeeds when there is none). */
export function renderMarksFlush(): string {
  return `table ${MARKS_TABLE}\ndelete table ${MARKS_TABLE}\n`;
}

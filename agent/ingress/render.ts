/**
 * The text of the table `swarmnet`: the full script (replaces the whole table atomically)
 * and the incremental script (element adds and deletes only). Pure; `nft -f -` runs
 * either as one transaction.
 *
 * The static part, family ip (every swarmnet address is IPv4; `inet` would add nothing but
 * protocol-qualified dnat):
 *
 *   prerouting (nat, dstnat) and output (nat, -100) → jump dispatch
 *   dispatch:  fib daddr type local → jump published
 *              ip daddr . l4proto . dport → vmap @vip_ports      (VIP, listed ports)
 *              ip daddr → vmap @vip_addrs                         (VIP, whole address)
 *   published: dnat via @addr_ports (-p on one address), via @local_ports (host mode, -p),
 *              l4proto . dport → vmap @ingress_ports              (routing mesh)
 *   *_pick_N:  one rule each: numgen inc mod N picks the slot (carried in the packet
 *              mark) and the backends map, keyed by (… . slot), gives the DNAT target
 *   postrouting (nat, srcnat): ingress-marked (the mark's whole top byte is 0x01) → snat
 *              to the ingress source (replies come back through the node that took the
 *              connection); egress masquerade for the gateway bridges' sources
 *
 * The plaintext-VXLAN guard of encrypted overlays is not here: it has one owner, the
 * encryption backend's table `swarmnet_encryption` (agent/encryption/nft-guard.ts), whose
 * rules name the backend's own devices and change with it.
 *
 * Output is hooked too, so a namespace's own connections (a container reaching a VIP, as
 * Docker's per-sandbox IPVS does; the node reaching its own published port) are handled.
 */
import {
  SET_NAMES,
  TABLE_FAMILY,
  TABLE_NAME,
  INGRESS_MARK,
  INGRESS_MARK_MASK,
  hex,
  buildModel,
  type Element,
  type Group,
  type RuleParams,
  type SetName,
  type TableModel,
} from "./ruleset-model.js";
import type { MeshState } from "./mesh-state.js";

const T = `${TABLE_FAMILY} ${TABLE_NAME}`;

/** Declarations of every set and map, keyed by name. */
const SET_DECLARATIONS: Record<SetName, string> = {
  ingress_ports: "type inet_proto . inet_service : verdict;",
  // The slot is the packet mark the pick chain just set (see INGRESS_MARK).
  ingress_backends: "type inet_proto . inet_service . mark : ipv4_addr . inet_service;",
  vip_ports: "type ipv4_addr . inet_proto . inet_service : verdict;",
  vip_port_backends: "type ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service;",
  vip_addrs: "type ipv4_addr : verdict;",
  vip_addr_backends: "type ipv4_addr . mark : ipv4_addr;",
  local_ports: "type inet_proto . inet_service : ipv4_addr . inet_service;",
  addr_ports: "type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;",
  egress_sources: "type ipv4_addr; flags interval;",
  egress_bridges: "type ifname;",
};

/** Every static chain: [name, hook line or undefined, rules]. */
function staticChains(p: RuleParams): [string, string | undefined, string[]][] {
  const mark = hex(INGRESS_MARK);
  const snat = p.ingressSource === undefined ? "masquerade" : `snat to ${p.ingressSource}`;
  return [
    [
      "published",
      undefined,
      [
        "dnat to ip daddr . meta l4proto . th dport map @addr_ports",
        "dnat to meta l4proto . th dport map @local_ports",
        "meta l4proto . th dport vmap @ingress_ports",
      ],
    ],
    [
      "dispatch",
      undefined,
      [
        "fib daddr type local jump published",
        "ip daddr . meta l4proto . th dport vmap @vip_ports",
        "ip daddr vmap @vip_addrs",
      ],
    ],
    ["prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["jump dispatch"]],
    ["output", "type nat hook output priority -100; policy accept;", ["jump dispatch"]],
    [
      "postrouting",
      "type nat hook postrouting priority srcnat; policy accept;",
      [
        `meta mark & ${hex(INGRESS_MARK_MASK)} == ${mark} ${snat}`,
        "oifname @egress_bridges return",
        "ip saddr @egress_sources masquerade",
      ],
    ],
  ];
}

/** Rules in the table: the static ones plus one per pick chain. */
export function ruleCount(model: TableModel): number {
  return staticChains(model.params).reduce((n, [, , rules]) => n + rules.length, 0) + model.pickChains.size;
}

export function chainCount(model: TableModel): number {
  return staticChains(model.params).length + model.pickChains.size;
}

/** Elements per `add element` statement: measured ≈10% faster than one statement per set at 110k elements. */
export const DEFAULT_ELEMENTS_PER_STATEMENT = 1000;

function elementStatements(
  verb: "add" | "delete",
  bySet: Map<SetName, string[]>,
  perStatement: number,
  out: string[],
): void {
  for (const set of SET_NAMES) {
    const items = bySet.get(set);
    if (items === undefined) continue;
    for (let i = 0; i < items.length; i += perStatement)
      out.push(`${verb} element ${T} ${set} { ${items.slice(i, i + perStatement).join(", ")} }`);
  }
}

function collect(elements: Iterable<Element>, withData: boolean): Map<SetName, string[]> {
  const bySet = new Map<SetName, string[]>();
  for (const e of elements) {
    let list = bySet.get(e.set);
    if (list === undefined) bySet.set(e.set, (list = []));
    list.push(withData ? e.text : e.key);
  }
  return bySet;
}

/** Every element text of every group, by set (no per-element objects: this is the 100k path). */
function collectGroups(groups: Iterable<Group>): Map<SetName, string[]> {
  const bySet = new Map<SetName, string[]>();
  for (const g of groups) {
    const { sets, texts } = g.elements;
    for (let i = 0; i < texts.length; i++) {
      const set = sets[i] as SetName;
      let list = bySet.get(set);
      if (list === undefined) bySet.set(set, (list = []));
      list.push(texts[i] as string);
    }
  }
  return bySet;
}

/**
 * The whole table as one script that replaces whatever table `swarmnet` exists (creating
 * it first so the delete always succeeds): used for the first apply, when a static rule's
 * value changes, and for resync, which repairs any drift.
 */
export function renderFullScript(model: TableModel, perStatement = DEFAULT_ELEMENTS_PER_STATEMENT): string {
  const out = [`table ${T}`, `delete table ${T}`, `table ${T} {`];
  for (const set of SET_NAMES) {
    const decl = SET_DECLARATIONS[set];
    out.push(`\t${decl.includes(" : ") ? "map" : "set"} ${set} { ${decl} }`);
  }
  for (const name of [...model.pickChains.keys()].sort(compareChains))
    out.push(`\tchain ${name} {`, `\t\t${model.pickChains.get(name) ?? ""}`, "\t}");
  for (const [name, hook, rules] of staticChains(model.params)) {
    out.push(`\tchain ${name} {`);
    if (hook !== undefined) out.push(`\t\t${hook}`);
    for (const r of rules) out.push(`\t\t${r}`);
    out.push("\t}");
  }
  out.push("}");
  const groups = [...model.groups.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  elementStatements("add", collectGroups(groups), perStatement, out);
  return out.join("\n") + "\n";
}

/** Pick chains sorted by kind, then numerically by slot count. */
function compareChains(a: string, b: string): number {
  const [ka, na] = splitChain(a);
  const [kb, nb] = splitChain(b);
  return ka === kb ? na - nb : ka < kb ? -1 : 1;
}

function splitChain(name: string): [string, number] {
  const i = name.lastIndexOf("_");
  return [name.slice(0, i), Number(name.slice(i + 1))];
}

/** A minimal change between two models, as operations (see `diffModels`). */
export interface ModelChange {
  addChains: [name: string, rule: string][];
  deleteChains: string[];
  deletes: Element[];
  adds: Element[];
}

/**
 * The incremental script: new pick chains first (elements jump to them), then element
 * deletes (so a changed element is deleted and re-added in the same transaction), adds,
 * and last the pick chains nothing jumps to any more. Empty when nothing changed.
 */
export function renderChangeScript(
  change: ModelChange,
  perStatement = DEFAULT_ELEMENTS_PER_STATEMENT,
): string {
  const out: string[] = [];
  for (const [name, rule] of change.addChains)
    out.push(`add chain ${T} ${name}`, `add rule ${T} ${name} ${rule}`);
  elementStatements("delete", collect(change.deletes, false), perStatement, out);
  elementStatements("add", collect(change.adds, true), perStatement, out);
  for (const name of change.deleteChains) out.push(`delete chain ${T} ${name}`);
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

/** The script that removes the table (and succeeds when there is none). */
export function renderFlushScript(): string {
  return `table ${T}\ndelete table ${T}\n`;
}

/** Pure: the full ruleset for `state` (validates it; throws on bad input). */
export function renderRuleset(state: MeshState): string {
  return renderFullScript(buildModel(state));
}

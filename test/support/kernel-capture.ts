/**
 * The kernel state an agent owns on one lab node, read through the executor and put in a
 * canonical form two readings can be compared in — for the fast-path-vs-resync test, and
 * any test that asks "did anything in the kernel change?".
 *
 * Namespaces: the node's own (`sn-L-nX`) and every one whose name the agent's prefix
 * starts (`sn-L-nX-…`: overlay sandboxes, containers). In each:
 *
 *   links   `ip -d -j addr show`, by name: every attribute and address, ifindex included
 *           (a link a resync deleted and re-created has a new ifindex: a real difference)
 *   routes  `ip -j route show table all`
 *   neigh   `ip -j neigh show`, only entries someone programmed (PERMANENT, NOARP)
 *   fdb     `bridge -j fdb show`, only programmed entries (not learned ones)
 *   nft     `nft -j list ruleset`: each table's chains with their rules in order, sets and
 *           maps with their elements as a set
 *
 * Left out as volatile, by design not the agent's: traffic counters (nft `counter`
 * values, link statistics), bridge timers (`*_timer`), address lifetimes, learned FDB
 * entries and neighbours the kernel resolved itself, conntrack. nft rule handles are left
 * out too: the mesh's resync replaces its table whole in one transaction by design (the
 * repair for someone else's edit), which renumbers every handle without changing a rule.
 *
 * `firstDifference` names the first place two readings differ (node, namespace, what,
 * the values), or undefined when they are equal; the order of an object's keys does not
 * count (nft lists tables in the order they were made).
 */
import type { Executor } from "../../common/executor.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface NamespaceState {
  links: Record<string, Json>;
  routes: string[];
  neigh: string[];
  fdb: string[];
  nft: Record<string, Json>;
}

/** Namespace name → its state. */
export type NodeKernelState = Record<string, NamespaceState>;

/** Keys whose values change on their own (counters, timers, lifetimes). */
const VOLATILE = /(^stats(64)?$|_timer$|_life_time$|^handle$|^used$|^updated$)/;
const PROGRAMMED_NEIGH = new Set(["PERMANENT", "NOARP"]);
const PROGRAMMED_FDB = new Set(["permanent", "static"]);
/** Namespaces read at once, per node. */
const READ_CONCURRENCY = 4;

function strip(v: unknown): Json {
  if (Array.isArray(v)) return v.map(strip);
  if (v !== null && typeof v === "object") {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (VOLATILE.test(k)) continue;
      // An nft counter's values move with traffic; that a rule counts does not.
      out[k] = k === "counter" && x !== null && typeof x === "object" ? { packets: 0, bytes: 0 } : strip(x);
    }
    return out;
  }
  return v as Json;
}

const sortedJson = (items: readonly unknown[]) => items.map((i) => JSON.stringify(strip(i))).sort();

interface NftObject {
  family?: string;
  table?: string;
  chain?: string;
  name?: string;
  elem?: unknown[];
}

/** nft's JSON listing → "kind family table name" → definition (rules in order, elements as a set). */
export function canonicalNft(listing: { nftables?: readonly object[] }): Record<string, Json> {
  const out: Record<string, Json> = {};
  const rules = new Map<string, string[]>();
  for (const item of listing.nftables ?? []) {
    for (const [kind, body] of Object.entries(item as Record<string, NftObject>)) {
      if (kind === "metainfo") continue;
      if (kind === "rule") {
        const key = `rules ${body.family} ${body.table} ${body.chain}`;
        rules.set(key, [...(rules.get(key) ?? []), JSON.stringify(strip(body))]);
        continue;
      }
      const { elem, ...def } = body;
      const name = kind === "table" ? "" : ` ${body.name}`;
      const table = kind === "table" ? body.name : body.table;
      out[`${kind} ${body.family} ${table}${name}`] = {
        ...(strip(def) as Record<string, Json>),
        ...(elem === undefined ? {} : { elem: sortedJson(elem) }),
      };
    }
  }
  for (const [key, list] of rules) out[key] = list;
  return out;
}

interface Link {
  ifname: string;
  addr_info?: unknown[];
}

async function readNamespace(ex: Executor, netns: string): Promise<NamespaceState> {
  const o = { netns };
  const [links, routes, neigh, fdb, nft] = await Promise.all([
    ex.ipJson<Link>(["-d", "addr", "show"], o),
    ex.ipJson(["route", "show", "table", "all"], o),
    ex.ipJson<{ state?: string[] }>(["neigh", "show"], o),
    ex.bridgeJson<{ state?: string }>(["fdb", "show"], o),
    ex.nft(["-j", "list", "ruleset"], o),
  ]);
  return {
    links: Object.fromEntries(
      links.map((l) => [
        l.ifname,
        { ...(strip(l) as Record<string, Json>), addr_info: sortedJson(l.addr_info ?? []) },
      ]),
    ),
    routes: sortedJson(routes),
    neigh: sortedJson(neigh.filter((n) => (n.state ?? []).some((s) => PROGRAMMED_NEIGH.has(s)))),
    fdb: sortedJson(fdb.filter((f) => PROGRAMMED_FDB.has(f.state ?? ""))),
    nft: canonicalNft(JSON.parse(nft) as { nftables?: object[] }),
  };
}

/** Every namespace of one node the agent owns: `nodeNetns` and those its prefix starts. */
export async function captureNode(ex: Executor, nodeNetns: string): Promise<NodeKernelState> {
  const mine = (await ex.netnsList()).filter((n) => n === nodeNetns || n.startsWith(`${nodeNetns}-`)).sort();
  const out: NodeKernelState = {};
  for (let i = 0; i < mine.length; i += READ_CONCURRENCY) {
    const batch = mine.slice(i, i + READ_CONCURRENCY);
    const states = await Promise.all(batch.map((ns) => readNamespace(ex, ns)));
    batch.forEach((ns, j) => {
      out[ns] = states[j] as NamespaceState;
    });
  }
  return out;
}

const show = (v: unknown) => {
  const text = JSON.stringify(v) ?? "absent";
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
};

/** The first place `a` and `b` differ, as "path: before → after"; undefined if equal. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  const bothStrings = (x: unknown): x is string[] =>
    Array.isArray(x) && x.every((i) => typeof i === "string");
  if (bothStrings(a) && bothStrings(b) && !path.includes("rules ")) {
    const onlyA = a.filter((x) => !b.includes(x));
    const onlyB = b.filter((x) => !a.includes(x));
    return `${path}: only before ${show(onlyA)}; only after ${show(onlyB)}`;
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort()) {
      const d = firstDifference(ra[k], rb[k], path === "" ? k : `${path} › ${k}`);
      if (d !== undefined) return d;
    }
    // Every field equal: only the order of the keys differs (nft lists a table the mesh's
    // resync re-created after the others), which means nothing.
    if (Array.isArray(a) === Array.isArray(b)) return undefined;
  }
  return `${path}: ${show(a)} → ${show(b)}`;
}

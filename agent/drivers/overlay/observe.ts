/**
 * Reads the overlay driver's kernel objects back: every sandbox namespace with this
 * agent's prefix, the bridge, VXLAN device, endpoint veths, permanent FDB and neighbour
 * entries inside it, and whether each local endpoint's container side is configured.
 * Only `ip -j` / `bridge -j` reads, through the executor.
 */
import type { Executor } from "../../../common/executor.js";
import type { LocalEndpoint, ObservedOverlay, ObservedSandbox } from "./model.js";
import { BRIDGE, endpointVeth, vniOfSandbox, vxlanDevice } from "./names.js";

interface JsonLink {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
}
interface JsonFdb {
  mac: string;
  dst?: string;
  state?: string;
  flags?: string[];
}
interface JsonNeigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}
interface JsonAddr {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string }[];
}

/** `deep`: the local endpoints whose container side is looked at closely (reconcile/deep-checks.ts). */
export async function observeOverlay(
  ex: Executor,
  prefix: string,
  locals: readonly LocalEndpoint[],
  vnis: ReadonlyMap<string, number>,
  nodeNetns: string | undefined,
  deep: ReadonlySet<string> | "all" = "all",
): Promise<ObservedOverlay> {
  const sandboxes = new Map<number, ObservedSandbox>();
  for (const netns of await ex.netnsList()) {
    const vni = vniOfSandbox(prefix, netns);
    if (vni !== undefined) sandboxes.set(vni, await observeSandbox(ex, netns, vni));
  }
  const present = locals.filter((ep) => {
    const vni = vnis.get(ep.networkId);
    return vni !== undefined && sandboxes.get(vni)?.veths.has(endpointVeth(ep.id)) === true;
  });
  const close = present.filter((ep) => deep === "all" || deep.has(ep.id));
  const inside = await containerSides(ex, close, nodeNetns);
  const healthyEndpoints = new Set<string>();
  for (const ep of present) {
    const veth = endpointVeth(ep.id);
    const healthy = close.includes(ep)
      ? configured(inside.get(ep.containerNetns ?? nodeNetns), ep)
      : sandboxes.get(vnis.get(ep.networkId) ?? -1)?.carrier.has(veth) === true;
    if (healthy) healthyEndpoints.add(ep.id);
  }
  return { sandboxes, healthyEndpoints };
}

/**
 * The addresses inside each namespace the endpoints live in (undefined key: the agent's
 * own), read in one process for all containers, so a close look at many costs one spawn.
 */
async function containerSides(
  ex: Executor,
  eps: readonly LocalEndpoint[],
  nodeNetns: string | undefined,
): Promise<Map<string | undefined, JsonAddr[] | undefined>> {
  const where = new Set(eps.map((ep) => ep.containerNetns ?? nodeNetns));
  const namespaces = [...where].filter((ns): ns is string => ns !== undefined);
  const out = new Map<string | undefined, JsonAddr[] | undefined>(
    await ex.ipJsonEach<JsonAddr>(namespaces, ["addr", "show"]),
  );
  if (where.has(undefined)) out.set(undefined, await ex.ipJson<JsonAddr>(["addr", "show"]));
  return out;
}

/** The endpoint's interface inside its namespace is up and holds its address. */
function configured(addrs: readonly JsonAddr[] | undefined, ep: LocalEndpoint): boolean {
  const a = addrs?.find((x) => x.ifname === ep.ifname);
  return (
    a !== undefined &&
    (a.flags ?? []).includes("UP") &&
    (a.addr_info ?? []).some((i) => i.family === "inet" && i.local === ep.ip)
  );
}

async function observeSandbox(ex: Executor, netns: string, vni: number): Promise<ObservedSandbox> {
  const links = await ex.ipJson<JsonLink>(["-d", "link", "show"], { netns });
  const vx = vxlanDevice(vni);
  const hasVxlan = links.some((l) => l.ifname === vx && l.linkinfo?.info_kind === "vxlan");
  const veths = links.filter((l) => l.ifname.startsWith("ve") && l.master === BRIDGE);
  const sb: ObservedSandbox = {
    netns,
    vni,
    hasBridge: links.some((l) => l.ifname === BRIDGE && l.linkinfo?.info_kind === "bridge"),
    hasVxlan,
    veths: new Set(veths.map((l) => l.ifname)),
    carrier: new Set(veths.filter((l) => (l.flags ?? []).includes("LOWER_UP")).map((l) => l.ifname)),
    fdb: new Map(),
    neighbours: new Map(),
  };
  if (!hasVxlan) return sb;
  for (const e of await ex.bridgeJson<JsonFdb>(["fdb", "show", "dev", vx], { netns })) {
    if (e.dst !== undefined && e.state === "permanent" && e.mac !== "00:00:00:00:00:00")
      sb.fdb.set(e.mac, e.dst);
  }
  for (const n of await ex.ipJson<JsonNeigh>(["neigh", "show", "dev", vx], { netns })) {
    if (n.lladdr !== undefined && (n.state ?? []).includes("PERMANENT")) sb.neighbours.set(n.dst, n.lladdr);
  }
  return sb;
}

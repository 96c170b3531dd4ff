/**
 * Reads the overlay driver's kernel objects back: every sandbox namespace with this
 * agent's prefix, the bridge, VXLAN device, endpoint veths, permanent FDB and neighbour
 * entries inside it, and whether each local endpoint's container side is configured.
 * Only `ip -j` / `bridge -j` reads, through the executor.
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
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
  const healthyEndpoints = new Set<string>();
  for (const ep of locals) {
    const vni = vnis.get(ep.networkId);
    const sb = vni === undefined ? undefined : sandboxes.get(vni);
    const veth = endpointVeth(ep.id);
    if (sb === undefined || !sb.veths.has(veth)) continue;
    const healthy =
      deep === "all" || deep.has(ep.id)
        ? await containerSideHealthy(ex, ep, ep.containerNetns ?? nodeNetns)
        : sb.carrier.has(veth);
    if (healthy) healthyEndpoints.add(ep.id);
  }
  return { sandboxes, healthyEndpoints };
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

async function containerSideHealthy(
  ex: Executor,
  ep: LocalEndpoint,
  netns: string | undefined,
): Promise<boolean> {
  try {
    const addrs = await ex.ipJson<JsonAddr>(["addr", "show", "dev", ep.ifname], { netns });
    const a = addrs[0];
    return (
      a !== undefined &&
      (a.flags ?? []).includes("UP") &&
      (a.addr_info ?? []).some((i) => i.family === "inet" && i.local === ep.ip)
    );
  } catch (err) {
    if (isSwarmnetError(err, ErrorCode.KernelNotFound)) return false;
    throw err;
  }
}

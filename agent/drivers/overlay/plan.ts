/**
 * The overlay driver's decisions, as a pure function: (desired, observed) → the ordered
 * batches that make the kernel match. No I/O here; `driver.ts` observes and applies.
 *
 * Order matters and follows the objects' dependencies: namespaces, then bridge and VXLAN
 * device (created in the node namespace and moved into the sandbox, so its UDP socket
 * stays on the underlay), then endpoints, then remote FDB + neighbour entries, then
 * removals (entries, endpoints, and last whole sandboxes: deleting a namespace removes
 * every device inside it, but only later, so a sandbox's VXLAN device is deleted first). A network gets a sandbox only while it has a local endpoint.
 * FDB and neighbour entries use `replace`, so re-applying a plan is harmless. An add-only
 * desired state (an agent that just started) plans no removal at all.
 */
import { parseCidr } from "../../../common/net-addr.js";
import type {
  LocalEndpoint,
  ObservedOverlay,
  ObservedSandbox,
  OverlayDesired,
  OverlayNetwork,
  RemoteEndpoint,
} from "./model.js";
import { BRIDGE, endpointVeth, sandboxNetns, vxlanDevice } from "./names.js";

/** One batch for one tool in one place. `netns` undefined: the node's own namespace. */
export interface Step {
  tool: "ip" | "bridge";
  netns: string | undefined;
  lines: string[];
  /** Sandboxes this step creates, for rollback if a later step fails. */
  creates?: string[];
  /** A removal: a device already gone by the time it runs is what was wanted anyway. */
  removal?: boolean;
}

export interface OverlayPlan {
  steps: Step[];
  /** Sandbox namespaces to create first and delete last (global `ip netns` operations). */
  addNetns: string[];
  deleteNetns: string[];
}

export function isEmptyPlan(p: OverlayPlan): boolean {
  return p.steps.length === 0 && p.addNetns.length === 0 && p.deleteNetns.length === 0;
}

function prefixLength(subnet: string): number {
  return parseCidr(subnet)?.prefix ?? 24;
}

/**
 * `nodeRef` names the node's own namespace where `ip … netns X` needs one: its name, or
 * the agent's pid when the agent runs in it unnamed (a real node's root namespace).
 */
export function planOverlay(
  desired: OverlayDesired,
  observed: ObservedOverlay,
  prefix: string,
  nodeRef = "1",
): OverlayPlan {
  const plan: OverlayPlan = { steps: [], addNetns: [], deleteNetns: [] };
  const byId = new Map(desired.networks.map((n) => [n.id, n]));
  const localByNet = groupBy(
    desired.local.filter((e) => byId.has(e.networkId)),
    (e) => e.networkId,
  );
  const remoteByNet = groupBy(desired.remote, (e) => e.networkId);
  const wanted = desired.networks.filter((n) => (localByNet.get(n.id)?.length ?? 0) > 0);
  const wantedVnis = new Set(wanted.map((n) => n.vni));
  const cleanup: Step[] = [];

  for (const net of wanted) {
    const ns = sandboxNetns(prefix, net.vni);
    const seen = observed.sandboxes.get(net.vni);
    const vx = vxlanDevice(net.vni);
    if (seen === undefined) plan.addNetns.push(ns);
    if (seen === undefined || !seen.hasBridge) {
      plan.steps.push({
        tool: "ip",
        netns: ns,
        creates: [ns],
        lines: [
          "link set lo up",
          `link add ${BRIDGE} type bridge`,
          `addr add ${net.gateway}/${prefixLength(net.subnet)} dev ${BRIDGE}`,
          `link set ${BRIDGE} mtu ${net.mtu} up`,
        ],
      });
    }
    if (seen === undefined || !seen.hasVxlan) {
      plan.steps.push({
        tool: "ip",
        netns: undefined,
        lines: [
          `link add ${vx} mtu ${net.mtu} type vxlan id ${net.vni} dstport ${net.dstPort} nolearning proxy`,
          `link set ${vx} netns ${ns}`,
        ],
      });
      plan.steps.push({ tool: "ip", netns: ns, lines: [`link set ${vx} master ${BRIDGE} up`] });
    }

    const locals = localByNet.get(net.id) ?? [];
    const wantVeths = new Set(locals.map((e) => endpointVeth(e.id)));
    for (const ep of locals) {
      const veth = endpointVeth(ep.id);
      const present = seen?.veths.has(veth) ?? false;
      if (present && observed.healthyEndpoints.has(ep.id)) continue;
      if (present) plan.steps.push({ tool: "ip", netns: ns, lines: [`link del ${veth}`] });
      plan.steps.push(...endpointSteps(net, ns, ep, nodeRef));
    }
    for (const veth of seen?.veths ?? []) {
      if (!wantVeths.has(veth))
        cleanup.push({ tool: "ip", netns: ns, lines: [`link del ${veth}`], removal: true });
    }

    const { fdb, neighbours } = remoteEntries(remoteByNet.get(net.id) ?? []);
    const fdbAdd: string[] = [];
    for (const [mac, vtep] of fdb) {
      if (seen?.fdb.get(mac) !== vtep) fdbAdd.push(`fdb replace ${mac} dev ${vx} dst ${vtep} self permanent`);
    }
    const neighAdd: string[] = [];
    for (const [ip, mac] of neighbours) {
      if (seen?.neighbours.get(ip) !== mac)
        neighAdd.push(`neigh replace ${ip} lladdr ${mac} dev ${vx} nud permanent`);
    }
    const fdbDel = [...(seen?.fdb.keys() ?? [])]
      .filter((m) => !fdb.has(m))
      .map((m) => `fdb del ${m} dev ${vx} self`);
    const neighDel = [...(seen?.neighbours.keys() ?? [])]
      .filter((ip) => !neighbours.has(ip))
      .map((ip) => `neigh del ${ip} dev ${vx}`);
    if (fdbAdd.length > 0) plan.steps.push({ tool: "bridge", netns: ns, lines: fdbAdd });
    if (neighAdd.length > 0) plan.steps.push({ tool: "ip", netns: ns, lines: neighAdd });
    if (neighDel.length > 0) cleanup.push({ tool: "ip", netns: ns, lines: neighDel });
    if (fdbDel.length > 0) cleanup.push({ tool: "bridge", netns: ns, lines: fdbDel });
  }

  for (const [vni, seen] of observed.sandboxes) {
    if (wantedVnis.has(vni)) continue;
    // The kernel destroys a deleted namespace's devices later, on a work queue; delete the
    // VXLAN device first, synchronously, so the VNI can be reused at once.
    if (seen.hasVxlan)
      cleanup.push({ tool: "ip", netns: seen.netns, lines: [`link del ${vxlanDevice(vni)}`] });
    plan.deleteNetns.push(seen.netns);
  }
  if (desired.addOnly === true) {
    plan.deleteNetns = [];
    return plan;
  }
  plan.steps.push(...cleanup);
  return plan;
}

/**
 * What the kernel holds once a plan for `desired` was applied: the observation a pass that
 * trusts its own last apply plans against instead of reading the kernel again (kernel.ts).
 * It mirrors `planOverlay`: a sandbox per network with a local endpoint, every wanted veth
 * configured, the remote entries after de-duplication. Not for an add-only state, which
 * leaves what it does not know in place.
 */
export function expectedOverlay(desired: OverlayDesired, prefix: string): ObservedOverlay {
  const byId = new Map(desired.networks.map((n) => [n.id, n]));
  const locals = desired.local.filter((e) => byId.has(e.networkId));
  const remoteByNet = groupBy(desired.remote, (e) => e.networkId);
  const sandboxes = new Map<number, ObservedSandbox>();
  for (const [networkId, eps] of groupBy(locals, (e) => e.networkId)) {
    const net = byId.get(networkId) as OverlayNetwork;
    const veths = new Set(eps.map((e) => endpointVeth(e.id)));
    const { fdb, neighbours } = remoteEntries(remoteByNet.get(networkId) ?? []);
    sandboxes.set(net.vni, {
      netns: sandboxNetns(prefix, net.vni),
      vni: net.vni,
      hasBridge: true,
      hasVxlan: true,
      veths,
      carrier: new Set(veths),
      fdb,
      neighbours,
    });
  }
  return { sandboxes, healthyEndpoints: new Set(locals.map((e) => e.id)) };
}

function endpointSteps(net: OverlayNetwork, ns: string, ep: LocalEndpoint, nodeRef: string): Step[] {
  const veth = endpointVeth(ep.id);
  const inContainer = [
    ...(ep.containerNetns === undefined ? [] : ["link set lo up"]),
    `link set ${ep.ifname} address ${ep.mac} mtu ${net.mtu}`,
    `addr add ${ep.ip}/${prefixLength(net.subnet)} dev ${ep.ifname}`,
    `link set ${ep.ifname} up`,
  ];
  if (ep.defaultRoute) inContainer.push(`route replace default via ${net.gateway} dev ${ep.ifname}`);
  return [
    {
      tool: "ip",
      netns: ns,
      lines: [
        `link add ${veth} mtu ${net.mtu} type veth peer name ${ep.ifname} netns ${ep.containerNetns ?? nodeRef}`,
        `link set ${veth} master ${BRIDGE} up`,
      ],
    },
    { tool: "ip", netns: ep.containerNetns, lines: inContainer },
  ];
}

/**
 * The FDB (mac → vtep) and neighbour (ip → mac) entries a network's remote endpoints
 * want, as both the plan and `expectedOverlay` read them. Two entries for one MAC (an
 * endpoint that moved) or one address (one endpoint replaced another): the last wins, as
 * NetworkDB ordered them — else every pass would re-point the entry to the first and back.
 */
function remoteEntries(remotes: readonly RemoteEndpoint[]): {
  fdb: Map<string, string>;
  neighbours: Map<string, string>;
} {
  const byMac = new Map<string, RemoteEndpoint>();
  for (const r of remotes) byMac.set(r.mac, r);
  const kept = [...byMac.values()];
  return {
    fdb: new Map(kept.map((r) => [r.mac, r.vtep])),
    neighbours: new Map(kept.map((r) => [r.ip, r.mac])),
  };
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = m.get(k);
    if (list) list.push(item);
    else m.set(k, [item]);
  }
  return m;
}

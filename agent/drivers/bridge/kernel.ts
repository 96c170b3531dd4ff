/**
 * The bridge driver's kernel work: observe the node's bridges, our endpoint veths and the
 * container side of each endpoint; plan the difference (plan.ts, pure); apply it as `ip`
 * batches; then the isolation table (isolation.ts) as one nft transaction when its text
 * changed (every resync re-applies it, repairing drift). Calls are serialized.
 *
 * The container side is looked at closely only as reconcile/deep-checks.ts decides (the
 * first pass, a bounded slice per resync); otherwise a veth's carrier says the container
 * side is there and up, and the default route is what this kernel last put there — so a
 * pass costs the same with 2 containers on the default bridge or 200.
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import { SerialQueue } from "../../../common/serial-queue.js";
import { DeepChecks } from "../../reconcile/deep-checks.js";
import type { BridgeDesired, BridgeEndpoint, ObservedBridges } from "./model.js";
import { bridgeVeth, ownerOfAlias, VETH_PREFIX } from "./names.js";
import { planBridges } from "./plan.js";
import { renderIsolation } from "./isolation.js";

const OUR_VETH = new RegExp(`^${VETH_PREFIX}[0-9a-f]{10}$`);

interface JsonLink {
  ifname: string;
  master?: string;
  mtu?: number;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local: string; prefixlen?: number }[];
}
interface JsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

export class BridgeKernel {
  private readonly queue = new SerialQueue();
  private appliedTable: string | undefined;
  private forwarding = false;
  private readonly deepChecks = new DeepChecks();
  /** Endpoint key → the default route this kernel last gave its container ("" none). */
  private readonly routes = new Map<string, string>();

  constructor(
    private readonly ex: Executor,
    /** Node-local bridges not ours that bridge networks are isolated from (the gateway bridge). */
    private readonly extraBridges: readonly string[],
  ) {}

  reconcile(desired: BridgeDesired, resync: boolean): Promise<number> {
    return this.queue.run(async () => {
      const deep = this.deepChecks.pick(
        desired.endpoints.map((e) => e.key),
        resync,
      );
      const steps = planBridges(desired, await this.observe(desired.endpoints, deep));
      // Once, and again on each resync (not on every container's pass).
      if (desired.networks.length > 0 && (resync || !this.forwarding)) {
        await this.ex.sysctl("net.ipv4.ip_forward", "1");
        this.forwarding = true;
      }
      for (const s of steps) {
        try {
          await this.ex.ipBatch(s.lines, { netns: s.netns });
        } catch (err) {
          if (s.removal !== true || !isSwarmnetError(err, ErrorCode.KernelNotFound)) throw err;
        }
      }
      this.routes.clear();
      for (const e of desired.endpoints) this.routes.set(e.key, e.defaultVia ?? "");
      const table = renderIsolation(desired.networks, this.extraBridges);
      if (resync || table !== this.appliedTable) {
        this.appliedTable = undefined;
        await this.ex.nftApply(table);
        this.appliedTable = table;
      }
      return steps.length;
    });
  }

  private async observe(
    endpoints: readonly BridgeEndpoint[],
    deep: ReadonlySet<string>,
  ): Promise<ObservedBridges> {
    const links = await this.ex.ipJson<JsonLink>(["-d", "addr", "show"]);
    const out: ObservedBridges = {
      bridges: new Map(),
      veths: new Map(),
      healthy: new Set(),
      routed: new Set(),
    };
    const carrier = new Set<string>();
    for (const l of links) {
      if (l.linkinfo?.info_kind === "bridge")
        out.bridges.set(l.ifname, {
          owner: ownerOfAlias(l.ifalias),
          up: (l.flags ?? []).includes("UP"),
          mtu: l.mtu ?? 0,
          addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen ?? 32}`),
        });
      else if (l.linkinfo?.info_kind === "veth" && OUR_VETH.test(l.ifname)) {
        out.veths.set(l.ifname, l.master);
        if ((l.flags ?? []).includes("LOWER_UP")) carrier.add(l.ifname);
      }
    }
    const present = endpoints.filter((ep) => out.veths.has(bridgeVeth(ep.key)));
    const close = present.filter((ep) => deep.has(ep.key));
    // The containers' sides, each kind of read in one process for all of them.
    const addrs = await this.ex.ipJsonEach<JsonLink>(
      close.map((ep) => ep.netns),
      ["addr", "show"],
    );
    const routes = await this.ex.ipJsonEach<JsonRoute>(
      close.filter((ep) => ep.defaultVia !== undefined).map((ep) => ep.netns),
      ["route", "show", "default"],
    );
    for (const ep of present) {
      const veth = bridgeVeth(ep.key);
      const inside = deep.has(ep.key)
        ? containerSide(ep, addrs.get(ep.netns), routes.get(ep.netns))
        : { healthy: carrier.has(veth), routed: this.routes.get(ep.key) === (ep.defaultVia ?? "") };
      if (inside.healthy) out.healthy.add(ep.key);
      if (inside.routed) out.routed.add(ep.key);
    }
    return out;
  }
}

/** A container's side of its endpoint: its interface up with its address, its default route. */
function containerSide(
  ep: BridgeEndpoint,
  addrs: readonly JsonLink[] | undefined,
  routes: readonly JsonRoute[] | undefined,
): { healthy: boolean; routed: boolean } {
  const a = addrs?.find((l) => l.ifname === ep.ifname);
  const healthy =
    a !== undefined && (a.flags ?? []).includes("UP") && (a.addr_info ?? []).some((i) => i.local === ep.ip);
  // The route matters only on a healthy side (a broken one is rebuilt, route included).
  if (!healthy || ep.defaultVia === undefined) return { healthy, routed: true };
  return { healthy, routed: (routes ?? []).some((r) => r.gateway === ep.defaultVia && r.dev === ep.ifname) };
}

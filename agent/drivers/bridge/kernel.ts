/**
 * The bridge driver's kernel work: observe the node's bridges, our endpoint veths and the
 * container side of each endpoint; plan the difference (plan.ts, pure); apply it as `ip`
 * batches; then the isolation table (isolation.ts) as one nft transaction when its text
 * changed (every resync re-applies it, repairing drift). Calls are serialized.
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import { SerialQueue } from "../../../common/serial-queue.js";
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

  constructor(
    private readonly ex: Executor,
    /** Node-local bridges not ours that bridge networks are isolated from (the gateway bridge). */
    private readonly extraBridges: readonly string[],
  ) {}

  reconcile(desired: BridgeDesired, resync: boolean): Promise<number> {
    return this.queue.run(async () => {
      const steps = planBridges(desired, await this.observe(desired.endpoints));
      if (desired.networks.length > 0) await this.ex.sysctl("net.ipv4.ip_forward", "1");
      for (const s of steps) {
        try {
          await this.ex.ipBatch(s.lines, { netns: s.netns });
        } catch (err) {
          if (s.removal !== true || !isSwarmnetError(err, ErrorCode.KernelNotFound)) throw err;
        }
      }
      const table = renderIsolation(desired.networks, this.extraBridges);
      if (resync || table !== this.appliedTable) {
        this.appliedTable = undefined;
        await this.ex.nftApply(table);
        this.appliedTable = table;
      }
      return steps.length;
    });
  }

  private async observe(endpoints: readonly BridgeEndpoint[]): Promise<ObservedBridges> {
    const links = await this.ex.ipJson<JsonLink>(["-d", "addr", "show"]);
    const out: ObservedBridges = {
      bridges: new Map(),
      veths: new Map(),
      healthy: new Set(),
      routed: new Set(),
    };
    for (const l of links) {
      if (l.linkinfo?.info_kind === "bridge")
        out.bridges.set(l.ifname, {
          owner: ownerOfAlias(l.ifalias),
          up: (l.flags ?? []).includes("UP"),
          mtu: l.mtu ?? 0,
          addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen ?? 32}`),
        });
      else if (l.linkinfo?.info_kind === "veth" && OUR_VETH.test(l.ifname)) out.veths.set(l.ifname, l.master);
    }
    for (const ep of endpoints) {
      if (!out.veths.has(bridgeVeth(ep.key))) continue;
      const inside = await this.containerSide(ep);
      if (inside.healthy) out.healthy.add(ep.key);
      if (inside.routed) out.routed.add(ep.key);
    }
    return out;
  }

  private async containerSide(ep: BridgeEndpoint): Promise<{ healthy: boolean; routed: boolean }> {
    try {
      const [a] = await this.ex.ipJson<JsonLink>(["addr", "show", "dev", ep.ifname], { netns: ep.netns });
      const healthy =
        a !== undefined &&
        (a.flags ?? []).includes("UP") &&
        (a.addr_info ?? []).some((i) => i.local === ep.ip);
      if (!healthy || ep.defaultVia === undefined) return { healthy, routed: true };
      const routes = await this.ex.ipJson<JsonRoute>(["route", "show", "default"], { netns: ep.netns });
      return { healthy, routed: routes.some((r) => r.gateway === ep.defaultVia && r.dev === ep.ifname) };
    } catch (err) {
      if (isSwarmnetError(err, ErrorCode.KernelNotFound)) return { healthy: false, routed: false };
      throw err;
    }
  }
}

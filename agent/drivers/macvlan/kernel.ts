/**
 * A sub-interface driver's kernel work: observe the node's VLAN sub-interfaces and
 * leftover temporary devices, and each wanted endpoint's interface in its container;
 * plan (plan.ts, pure); apply `ip` batches. The endpoints it made are remembered (and
 * re-learned from the kernel after a restart: a healthy one counts as made), so a
 * disconnected endpoint's device is removed from its container. Calls are serialized.
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import { SerialQueue } from "../../../common/serial-queue.js";
import type { MadeEndpoint, ObservedSub, SubDesired, SubEndpoint } from "./model.js";
import { isTempName, vlanOwner } from "./names.js";
import type { SubKind } from "../../../common/parent-network.js";
import { planSub } from "./plan.js";

interface JsonLink {
  ifname: string;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local: string }[];
}
interface JsonRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

export class SubInterfaceKernel {
  private readonly queue = new SerialQueue();
  private made = new Map<string, MadeEndpoint>();

  constructor(
    private readonly ex: Executor,
    private readonly kind: SubKind,
  ) {}

  reconcile(desired: SubDesired): Promise<number> {
    return this.queue.run(async () => {
      const observed = await this.observe(desired.endpoints);
      for (const ep of desired.endpoints)
        if (observed.healthy.has(ep.key))
          this.made.set(ep.key, { key: ep.key, netns: ep.netns, ifname: ep.ifname });
      const steps = planSub(this.kind, desired, observed, [...this.made.values()]);
      for (const s of steps) {
        try {
          await this.ex.ipBatch(s.lines, { netns: s.netns });
        } catch (err) {
          if (s.removal !== true || !isSwarmnetError(err, ErrorCode.KernelNotFound)) throw err;
        }
      }
      const next = new Map(
        desired.endpoints.map((e) => [e.key, { key: e.key, netns: e.netns, ifname: e.ifname }]),
      );
      if (desired.addOnly === true) for (const [k, m] of this.made) if (!next.has(k)) next.set(k, m);
      this.made = next;
      return steps.length;
    });
  }

  private async observe(endpoints: readonly SubEndpoint[]): Promise<ObservedSub> {
    const links = await this.ex.ipJson<JsonLink>(["-d", "link", "show"]);
    const out: ObservedSub = {
      vlans: new Map(),
      devices: new Set(links.map((l) => l.ifname)),
      strays: links.filter((l) => isTempName(this.kind, l.ifname)).map((l) => l.ifname),
      present: new Set(),
      healthy: new Set(),
      routed: new Set(),
    };
    for (const l of links) {
      const owner = vlanOwner(this.kind, l.ifalias);
      if (owner !== "" && l.linkinfo?.info_kind === "vlan") out.vlans.set(l.ifname, owner);
    }
    for (const ep of endpoints) await this.observeEndpoint(ep, out);
    return out;
  }

  private async observeEndpoint(ep: SubEndpoint, out: ObservedSub): Promise<void> {
    try {
      const [l] = await this.ex.ipJson<JsonLink>(["-d", "addr", "show", "dev", ep.ifname], {
        netns: ep.netns,
      });
      if (l === undefined) return;
      out.present.add(ep.key);
      const healthy =
        l.linkinfo?.info_kind === this.kind &&
        (l.flags ?? []).includes("UP") &&
        (l.addr_info ?? []).some((a) => a.local === ep.ip);
      if (!healthy) return;
      out.healthy.add(ep.key);
      if (ep.defaultRoute === undefined) {
        out.routed.add(ep.key);
        return;
      }
      const routes = await this.ex.ipJson<JsonRoute>(["route", "show", "default"], { netns: ep.netns });
      const via = ep.defaultRoute === "dev" ? undefined : ep.defaultRoute;
      if (routes.some((r) => r.dev === ep.ifname && r.gateway === via)) out.routed.add(ep.key);
    } catch (err) {
      if (!isSwarmnetError(err, ErrorCode.KernelNotFound)) throw err;
    }
  }
}

/**
 * Egress for containers on overlay networks, after Docker's docker_gwbridge: a node-local
 * bridge `gwbridge` (172.18.0.1/16) in the node's namespace; every such container gets a
 * veth `gwbr0` on it with an address from that range and its default route through it,
 * and the node masquerades what leaves by any other interface (the rule lives in the
 * node's nftables table, rendered by agent/ingress from `egress`). Bridge ports are
 * *isolated*, so two containers on different overlays of one node cannot talk through
 * the gateway bridge (Docker's enable_icc=false on docker_gwbridge).
 *
 * Shaped like the overlay driver: observe the kernel, plan the difference, apply batches;
 * restart adoption and drift repair come from starting at the kernel.
 */
import { createHash } from "node:crypto";
import { DeepChecks } from "../reconcile/deep-checks.js";
import { ErrorCode, isSwarmnetError } from "../../common/errors.js";
import type { Executor } from "../../common/executor.js";
import { formatIpv4, parseCidr } from "../../common/net-addr.js";

export const GW_BRIDGE = "gwbridge";
export const GW_SUBNET = "172.18.0.0/16";
export const GW_ADDRESS = "172.18.0.1";
export const GW_IFNAME = "gwbr0";
const PREFIX = 16;

export interface GatewayPort {
  containerId: string;
  netns: string;
  ip: string;
  mtu: number;
}

export function gatewayVeth(containerId: string): string {
  return `gw${createHash("sha1").update(containerId).digest("hex").slice(0, 8)}`;
}

/** The index-th address of the gateway range (index 0 → 172.18.0.2). */
export function gatewayAddress(index: number): string {
  return formatIpv4((parseCidr(GW_SUBNET)?.network ?? 0) + 2 + index);
}

interface JsonAddr {
  addr_info?: { local: string }[];
}

interface JsonLink {
  ifname: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string };
}

/** The bridge and ports (by veth) the last pass left in the kernel. */
interface Applied {
  bridge: boolean;
  ports: Map<string, GatewayPort>;
}

export class GatewayBridge {
  private readonly deepChecks = new DeepChecks();
  /** What the last pass left, as far as this object knows; undefined: read the kernel. */
  private known: Applied | undefined;

  constructor(
    private readonly ex: Executor,
    private readonly nodeNetns: string | undefined,
  ) {}

  private get node() {
    return { netns: this.nodeNetns };
  }

  /**
   * Makes the bridge and its ports match `ports`. A resync pass (and the first pass, or
   * the one after a failure) reads the node's links and repairs what it finds: a port's
   * container side is looked at closely as reconcile/deep-checks.ts decides, otherwise its
   * veth's carrier says whether the container side is there and up. Other passes — a
   * container came or went — change only what differs from what this object last left
   * in the kernel, reading nothing: reading every link of a node with hundreds of
   * containers on each `run` made a run's cost grow with them (#16).
   */
  async reconcile(ports: readonly GatewayPort[], resync = true): Promise<number> {
    const known = this.known;
    this.known = undefined;
    const batches =
      !resync && known !== undefined ? await this.update(ports, known) : await this.repair(ports, resync);
    this.known = {
      bridge: ports.length > 0,
      ports: new Map(ports.map((p) => [gatewayVeth(p.containerId), p])),
    };
    return batches;
  }

  private async update(ports: readonly GatewayPort[], known: Applied): Promise<number> {
    let batches = 0;
    if (ports.length > 0 && !known.bridge) batches += await this.addBridge();
    const want = new Set<string>();
    for (const p of ports) {
      const veth = gatewayVeth(p.containerId);
      want.add(veth);
      const had = known.ports.get(veth);
      if (had !== undefined && had.ip === p.ip && had.mtu === p.mtu && had.netns === p.netns) continue;
      if (had !== undefined) await this.ex.ip(["link", "del", veth], this.node);
      batches += await this.addPort(p, veth);
    }
    // Usually the container's namespace went first, taking the veth with it: gone is done.
    for (const veth of [...known.ports.keys()].filter((v) => !want.has(v))) {
      await this.ex.ip(["link", "del", veth], this.node).catch((err: unknown) => {
        if (!isSwarmnetError(err, ErrorCode.KernelNotFound)) throw err;
      });
      batches++;
    }
    if (ports.length === 0 && known.bridge) batches += await this.removeBridge();
    return batches;
  }

  private async repair(ports: readonly GatewayPort[], resync: boolean): Promise<number> {
    const links = await this.ex.ipJson<JsonLink>(["-d", "link", "show"], this.node);
    const hasBridge = links.some((l) => l.ifname === GW_BRIDGE && l.linkinfo?.info_kind === "bridge");
    const bridged = links.filter((l) => l.master === GW_BRIDGE);
    const attached = new Set(bridged.map((l) => l.ifname));
    const carrier = new Set(bridged.filter((l) => (l.flags ?? []).includes("LOWER_UP")).map((l) => l.ifname));
    const deep = this.deepChecks.pick(
      ports.map((p) => p.containerId),
      resync,
    );
    const inside = await this.ex.ipJsonEach<JsonAddr>(
      ports
        .filter((p) => deep.has(p.containerId) && attached.has(gatewayVeth(p.containerId)))
        .map((p) => p.netns),
      ["addr", "show", "dev", GW_IFNAME],
    );
    const healthy = (p: GatewayPort, veth: string) =>
      deep.has(p.containerId)
        ? (inside.get(p.netns)?.[0]?.addr_info ?? []).some((a) => a.local === p.ip)
        : carrier.has(veth);
    let batches = 0;
    if (ports.length > 0 && !hasBridge) batches += await this.addBridge();
    const want = new Set(ports.map((p) => gatewayVeth(p.containerId)));
    for (const p of ports) {
      const veth = gatewayVeth(p.containerId);
      if (attached.has(veth) && healthy(p, veth)) continue;
      if (attached.has(veth)) await this.ex.ip(["link", "del", veth], this.node);
      batches += await this.addPort(p, veth);
    }
    const stale = [...attached].filter((v) => v.startsWith("gw") && !want.has(v));
    if (stale.length > 0) {
      await this.ex.ipBatch(
        stale.map((v) => `link del ${v}`),
        this.node,
      );
      batches++;
    }
    if (ports.length === 0 && hasBridge) batches += await this.removeBridge();
    return batches;
  }

  private async addBridge(): Promise<number> {
    await this.ex.ipBatch(
      [
        `link add ${GW_BRIDGE} type bridge`,
        `addr add ${GW_ADDRESS}/${PREFIX} dev ${GW_BRIDGE}`,
        `link set ${GW_BRIDGE} up`,
      ],
      this.node,
    );
    await this.ex.sysctl("net.ipv4.ip_forward", "1", this.node);
    return 1;
  }

  private async removeBridge(): Promise<number> {
    await this.ex.ip(["link", "del", GW_BRIDGE], this.node);
    return 1;
  }

  private async addPort(p: GatewayPort, veth: string): Promise<number> {
    await this.ex.ipBatch(
      [
        `link add ${veth} mtu ${p.mtu} type veth peer name ${GW_IFNAME} netns ${p.netns}`,
        `link set ${veth} master ${GW_BRIDGE}`,
        `link set dev ${veth} type bridge_slave isolated on`,
        `link set ${veth} up`,
      ],
      this.node,
    );
    await this.ex.ipBatch(
      [
        `link set ${GW_IFNAME} mtu ${p.mtu}`,
        `addr add ${p.ip}/${PREFIX} dev ${GW_IFNAME}`,
        `link set ${GW_IFNAME} up`,
        `route replace default via ${GW_ADDRESS} dev ${GW_IFNAME}`,
      ],
      { netns: p.netns },
    );
    return 2;
  }
}

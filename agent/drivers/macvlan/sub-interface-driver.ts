/**
 * The drivers whose containers look like hosts on the parent's network (Docker's
 * macvlan and ipvlan): each endpoint is a sub-interface of a parent device of the node,
 * with an address on the parent's segment, reachable directly from other hosts there —
 * not through the node, which (by the kernel's design) cannot reach its own macvlan
 * children. `macvlan-driver.ts` and `../ipvlan/ipvlan-driver.ts` are this class with a
 * kind; the kernel work is `SubInterfaceKernel`.
 *
 * `createNetwork` checks what only this node can: the parent exists; a VLAN parent
 * (`eth0.10`) that does not exist yet needs 802.1q in the kernel (the probe says),
 * otherwise the error names it and nothing is made.
 */
import { ErrorCode, SwarmnetError, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import type { NetworkIntent } from "../../../common/cluster-types.js";
import { macFromIpv4, parseIpv4 } from "../../../common/net-addr.js";
import type { NodeSnapshot } from "../../node-snapshot.js";
import { hasFeature, type Feature, type KernelCapabilities } from "../../probe.js";
import type { Reconciler } from "../../reconcile/reconciler.js";
import type { DriverEndpoint, DriverNetwork, EndpointRequest, JoinInfo, NetworkDriver } from "../driver.js";
import { localEndpointsOn, localNetworksOf, networksOf } from "../local-scope.js";
import { SubInterfaceKernel } from "./kernel.js";
import type { OwnedVlan, SubDesired, SubEndpoint } from "./model.js";
import { parentNetwork, type SubKind } from "../../../common/parent-network.js";

export class SubInterfaceDriver implements NetworkDriver {
  readonly sandbox = "own" as const;
  readonly needsAddress = true;
  readonly kernel: SubInterfaceKernel;
  readonly reconcilers: readonly Reconciler[];

  constructor(
    readonly name: SubKind,
    private readonly ex: Executor,
    private readonly caps: () => KernelCapabilities | undefined,
  ) {
    this.kernel = new SubInterfaceKernel(ex, name);
    const r: Reconciler<SubDesired> = {
      name,
      desired: (s) => desiredSub(name, s),
      apply: async (d) => {
        await this.kernel.reconcile(d);
      },
    };
    this.reconcilers = [r];
  }

  unavailable(caps: KernelCapabilities): string | undefined {
    return hasFeature(caps, this.name) ? undefined : `the kernel has no ${this.name} devices`;
  }

  async createNetwork(net: DriverNetwork): Promise<void> {
    const p = parentNetwork(net.intent, this.name);
    if (await this.exists(p.parent)) return;
    if (p.vlan === undefined)
      throw new SwarmnetError(ErrorCode.NotFound, `parent interface ${p.parent} does not exist on this node`);
    if (!(await this.exists(p.vlan.base)))
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `parent interface ${p.vlan.base} does not exist on this node`,
      );
    const caps = this.caps();
    const vlan: Feature = "vlan_8021q";
    if (caps === undefined || !hasFeature(caps, vlan))
      throw new SwarmnetError(
        ErrorCode.Unsupported,
        `parent ${p.parent} is an 802.1q VLAN sub-interface, and this kernel has no 802.1q VLAN support (${vlan})`,
      );
  }

  createEndpoint(net: DriverNetwork, req: EndpointRequest): DriverEndpoint {
    const p = parentNetwork(net.intent, this.name);
    return {
      mac: this.name === "macvlan" ? macFromIpv4(parseIpv4(req.ip) ?? 0) : "",
      mtu: p.mtu,
      driverData: {},
    };
  }

  join(net: DriverNetwork): JoinInfo {
    return { gatewayBridge: false, ownGateway: !net.intent.internal };
  }

  factData(): undefined {
    return undefined;
  }

  private async exists(dev: string): Promise<boolean> {
    try {
      return (await this.ex.ipJson(["link", "show", "dev", dev])).length > 0;
    } catch (err) {
      if (isSwarmnetError(err, ErrorCode.KernelNotFound)) return false;
      throw err;
    }
  }
}

/**
 * A local network's VLAN parent exists while the network does; a swarm-scope network's
 * (`--scope swarm`) while a container of this node is on it, as Docker builds a swarm
 * network on a node only for the tasks there.
 */
export function desiredSub(kind: SubKind, s: NodeSnapshot): SubDesired {
  const read = (n: NetworkIntent) => parentNetwork(n, kind);
  const local = localNetworksOf(s, kind, read);
  const swarm = networksOf(s.intent?.networks.values() ?? [], kind, read);
  const on = localEndpointsOn(s, kind, new Map([...local, ...swarm]));
  const used = new Set(on.map((e) => e.network.id));
  const vlans: OwnedVlan[] = [
    ...local.values(),
    ...[...swarm.values()].filter((n) => used.has(n.id)),
  ].flatMap((n) => (n.vlan === undefined ? [] : [{ ...n.vlan, networkId: n.id }]));
  const endpoints = on.map(({ key, netns, ep, network: n, holdsDefaultRoute }): SubEndpoint => ({
    key,
    kind,
    parent: n.parent,
    mode: n.mode,
    netns,
    ifname: ep.ifname,
    ip: ep.ip,
    prefix: n.prefix,
    mac: ep.mac,
    mtu: n.mtu,
    // ipvlan l3/l3s: the parent routes; the container has a device route only.
    defaultRoute: !holdsDefaultRoute ? undefined : kind === "ipvlan" && n.mode !== "l2" ? "dev" : n.gateway,
  }));
  return { vlans, endpoints, ...(s.settling ? { addOnly: true } : {}) };
}

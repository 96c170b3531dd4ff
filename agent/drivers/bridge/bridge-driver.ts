/**
 * The bridge driver (Docker's `bridge`): single-host networks, one Linux bridge each in
 * the node's namespace holding the network's gateway address, one veth per endpoint from
 * the container into it. Containers on one bridge reach each other directly (unless
 * `enable_icc=false`: their bridge ports are isolated); they go out through the gateway,
 * masqueraded by the routing mesh's egress rule (unless `--internal` or
 * `enable_ip_masquerade=false`); `-p` ports DNAT to their address on the bridge; traffic
 * routed between two bridge networks is dropped (isolation.ts). The default network
 * `bridge` (`swarmnet0`, 172.17.0.0/16) is one of these, created with the agent.
 *
 * A bridge exists as long as its network does (not only while it has endpoints, unlike
 * an overlay's sandbox), as Docker's docker0 and br-<id> do. Endpoints are not gossiped:
 * nobody beyond this node needs them.
 */
import { ErrorCode, SwarmnetError, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import { macFromIpv4, parseIpv4 } from "../../../common/net-addr.js";
import { GW_BRIDGE } from "../../gwbridge/gwbridge.js";
import type { NodeSnapshot } from "../../node-snapshot.js";
import { hasFeature, type KernelCapabilities } from "../../probe.js";
import type { Reconciler } from "../../reconcile/reconciler.js";
import { R } from "../../reconcile/triggers.js";
import type { DriverEndpoint, DriverNetwork, EndpointRequest, JoinInfo, NetworkDriver } from "../driver.js";
import { localEndpointsOn, localNetworksOf } from "../local-scope.js";
import { BridgeKernel } from "./kernel.js";
import type { BridgeDesired, BridgeEndpoint } from "./model.js";
import { ownerOfAlias } from "./names.js";
import { BRIDGE, bridgeNetwork, type BridgeNetwork } from "./options.js";

interface JsonLink {
  ifname: string;
  ifalias?: string;
}

export class BridgeDriver implements NetworkDriver {
  readonly name = BRIDGE;
  readonly sandbox = "own" as const;
  readonly needsAddress = true;
  readonly kernel: BridgeKernel;
  readonly reconcilers: readonly Reconciler[];

  constructor(private readonly ex: Executor) {
    this.kernel = new BridgeKernel(ex, [GW_BRIDGE]);
    const r: Reconciler<BridgeDesired> = {
      name: R.bridge,
      desired: (s) => desiredBridges(s),
      apply: async (d, { resync }) => {
        await this.kernel.reconcile(d, resync);
      },
    };
    this.reconcilers = [r];
  }

  unavailable(caps: KernelCapabilities): string | undefined {
    for (const f of ["bridge", "veth"] as const)
      if (!hasFeature(caps, f)) return `the kernel has no ${f} devices`;
    return undefined;
  }

  /** Options are valid, and the bridge's name is free on this node (or already this network's). */
  async createNetwork(net: DriverNetwork): Promise<void> {
    const b = bridgeNetwork(net.intent);
    let links: JsonLink[];
    try {
      links = await this.ex.ipJson<JsonLink>(["link", "show", "dev", b.device]);
    } catch (err) {
      if (isSwarmnetError(err, ErrorCode.KernelNotFound)) return;
      throw err;
    }
    const owner = ownerOfAlias(links[0]?.ifalias);
    if (links.length > 0 && owner !== net.intent.id)
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `bridge name ${b.device} is already used by an interface of this node`,
      );
  }

  createEndpoint(net: DriverNetwork, req: EndpointRequest): DriverEndpoint {
    return { mac: macFromIpv4(parseIpv4(req.ip) ?? 0), mtu: bridgeNetwork(net.intent).mtu, driverData: {} };
  }

  join(net: DriverNetwork): JoinInfo {
    return { gatewayBridge: false, ownGateway: !net.intent.internal };
  }

  factData(): undefined {
    return undefined;
  }
}

/** Bridge networks of the node. */
export function bridgeNetworks(s: NodeSnapshot): BridgeNetwork[] {
  return [...localNetworksOf(s, BRIDGE, bridgeNetwork).values()];
}

export function desiredBridges(s: NodeSnapshot): BridgeDesired {
  const networks = localNetworksOf(s, BRIDGE, bridgeNetwork);
  const endpoints = localEndpointsOn(s, BRIDGE, networks).map(
    ({ key, netns, ep, network: n, holdsDefaultRoute }): BridgeEndpoint => ({
      key,
      device: n.device,
      netns,
      ifname: ep.ifname,
      ip: ep.ip,
      prefix: n.prefix,
      mac: ep.mac,
      mtu: n.mtu,
      isolated: !n.icc,
      defaultVia: holdsDefaultRoute ? n.gateway : undefined,
    }),
  );
  return { networks: [...networks.values()], endpoints, ...(s.settling ? { addOnly: true } : {}) };
}

/**
 * The overlay driver behind the agent's driver interface: multi-host networks over VXLAN.
 * Per overlay network with a local endpoint, a sandbox namespace with a bridge and a VXLAN
 * device; each local endpoint a veth into it; each remote endpoint (from the gossiped
 * endpoint facts: its MAC and its node's VTEP) a static FDB + neighbour entry. The kernel
 * work is `OverlayKernel` (observe → plan → batches); this file decides endpoints and
 * computes the desired state from the node snapshot.
 *
 * Also the overlay's: the node's own port on the ingress network (Docker's ingress-sbox
 * endpoint, `ingress0` in the node namespace) that the routing mesh reaches every task
 * through, and encryption of encrypted overlays (encryption.ts).
 *
 * MTU: the network's `mtu` option as the managers validated it, else the underlay's minus
 * the VXLAN overhead (or what the encryption backend leaves on encrypted networks).
 */
import { macFromIpv4, parseIpv4 } from "../../../common/net-addr.js";
import type { Logger } from "../../../common/logger.js";
import type { Executor } from "../../../common/executor.js";
import type { EndpointFact } from "../../attachments.js";
import type { NetworkIntent } from "../../dispatcher/index.js";
import { dataPathPort, driverNetworkFor } from "../../dispatcher/index.js";
import type { NodeFacts, NodeSnapshot } from "../../node-snapshot.js";
import { hasFeature, type KernelCapabilities } from "../../probe.js";
import type { Reconciler } from "../../reconcile/reconciler.js";
import { R } from "../../reconcile/triggers.js";
import { defaultRouteEndpoint, endpointKey, type EndpointRecord } from "../../sandbox/container.js";
import type { DriverEndpoint, DriverNetwork, EndpointRequest, JoinInfo, NetworkDriver } from "../driver.js";
import { encryptionReconciler, type OverlayEncryption } from "./encryption.js";
import { OVERLAY, overlayData } from "./endpoint-data.js";
import { OverlayKernel } from "./kernel.js";
import type { LocalEndpoint, OverlayDesired, OverlayNetwork, RemoteEndpoint } from "./model.js";

/** VXLAN's own overhead on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD_BYTES = 50;

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** The node's port on the ingress network. */
export const INGRESS_IFNAME = "ingress0";

export interface OverlayDriverDeps {
  ex: Executor;
  /** Prefix of the sandbox namespaces (the agent's `netnsPrefix`). */
  prefix: string;
  node: NodeFacts;
  /** Undefined: no encrypted overlays on this node (no advertise address). */
  encryption: OverlayEncryption | undefined;
  log: Logger;
}

export class OverlayDriver implements NetworkDriver {
  readonly name = OVERLAY;
  readonly sandbox = "own" as const;
  readonly needsAddress = true;
  readonly kernel: OverlayKernel;
  readonly reconcilers: readonly Reconciler[];

  constructor(private readonly deps: OverlayDriverDeps) {
    this.kernel = new OverlayKernel(deps.ex, { prefix: deps.prefix });
    const overlay: Reconciler<OverlayDesired> = {
      name: R.overlay,
      desired: (s) => this.desired(s),
      apply: async (d, { resync }) => {
        await this.kernel.reconcile(d, resync);
      },
    };
    this.reconcilers =
      deps.encryption === undefined ? [overlay] : [overlay, encryptionReconciler(deps.encryption)];
  }

  unavailable(caps: KernelCapabilities): string | undefined {
    for (const f of ["vxlan", "bridge", "veth"] as const)
      if (!hasFeature(caps, f)) return `the kernel has no ${f} devices`;
    return undefined;
  }

  async createNetwork(): Promise<void> {}

  createEndpoint(net: DriverNetwork, req: EndpointRequest): DriverEndpoint {
    return {
      mac: macFromIpv4(parseIpv4(req.ip) ?? 0),
      mtu: this.mtuOf(net.intent),
      driverData: {
        vni: net.intent.vni ?? 0,
        subnet: net.subnet,
        dstPort: net.dataPathPort,
        encrypted: net.intent.encrypted && this.deps.encryption !== undefined,
      },
    };
  }

  join(net: DriverNetwork): JoinInfo {
    return { gatewayBridge: !net.intent.internal, ownGateway: false };
  }

  factData(ep: EndpointRecord, advertiseAddr: string): Record<string, string> {
    return { mac: ep.mac, vtep: advertiseAddr };
  }

  /** The node's ingress port, once it has an address: the mesh on other nodes reaches it. */
  nodeFacts(s: NodeSnapshot): EndpointFact[] {
    const port = nodeIngressPort(s, (n) => this.mtuOf(n));
    const addr = s.node.advertiseAddr;
    if (port === undefined || addr === undefined) return [];
    return [
      {
        networkId: port.network.id,
        key: `node-${s.node.name}/${port.network.id}`,
        ip: port.ip,
        node: s.node.name,
        container: "",
        aliases: [],
        serviceId: "",
        serviceName: "",
        vip: "",
        data: { mac: port.mac, vtep: addr },
      },
    ];
  }

  private mtuOf(n: NetworkIntent): number {
    if (n.mtu !== undefined) return n.mtu;
    const underlay = this.deps.node.underlayMtu;
    const enc = this.deps.encryption;
    return n.encrypted && enc !== undefined ? enc.overlayMtu(underlay) : underlay - VXLAN_OVERHEAD_BYTES;
  }

  /** The overlay's desired state: local endpoints, the node's ingress port, remote endpoints. */
  desired(s: NodeSnapshot): OverlayDesired {
    const networks = new Map<string, OverlayNetwork & { encrypted: boolean }>();
    const local: LocalEndpoint[] = [];
    for (const c of s.containers) {
      c.endpoints.forEach((ep, i) => {
        if (ep.driver !== OVERLAY) return;
        const d = overlayData(ep);
        networks.set(ep.networkId, {
          id: ep.networkId,
          name: ep.networkName,
          vni: d.vni,
          subnet: d.subnet,
          gateway: ep.gateway,
          mtu: ep.mtu,
          dstPort: d.dstPort,
          encrypted: d.encrypted,
        });
        local.push({
          id: endpointKey(c, ep),
          networkId: ep.networkId,
          containerNetns: c.netns,
          ifname: ep.ifname,
          ip: ep.ip,
          mac: ep.mac,
          defaultRoute: i === 0 && c.gatewayIp === undefined && defaultRouteEndpoint(c) === undefined,
        });
      });
    }
    const port = nodeIngressPort(s, (n) => this.mtuOf(n));
    if (port !== undefined) {
      networks.set(port.network.id, port.network);
      local.push({
        id: `node/${port.network.id}`,
        networkId: port.network.id,
        containerNetns: undefined,
        ifname: INGRESS_IFNAME,
        ip: port.ip,
        mac: port.mac,
        defaultRoute: false,
      });
    }
    // Encrypted networks: entries point at the encryption backend, and none exist until it
    // is ready and protects the network's VXLAN port (fail closed: nothing of an encrypted
    // network may leave in plaintext).
    const enc = this.deps.encryption;
    const remote: RemoteEndpoint[] = [];
    for (const f of s.endpoints) {
      const net = networks.get(f.networkId);
      const mac = f.data["mac"];
      const vtep = f.data["vtep"];
      if (net === undefined || f.node === s.node.name) continue;
      // Another node's word, going into the kernel: only well-formed entries.
      if (mac === undefined || !MAC.test(mac) || vtep === undefined || parseIpv4(vtep) === undefined)
        continue;
      if (net.encrypted && enc?.readyFor(net.dstPort) !== true) continue;
      remote.push({
        networkId: f.networkId,
        ip: f.ip,
        mac,
        vtep: net.encrypted && enc !== undefined ? enc.fdbDestination(vtep) : vtep,
      });
    }
    return {
      networks: [...networks.values()].map(({ encrypted: _, ...n }) => n),
      local,
      remote,
      ...(s.settling ? { addOnly: true } : {}),
    };
  }
}

export interface NodeIngressPort {
  network: OverlayNetwork & { encrypted: boolean };
  ip: string;
  mac: string;
}

/**
 * This node's own port on the ingress network, once the managers gave it an address:
 * the routing mesh reaches every task through it.
 */
export function nodeIngressPort(
  s: NodeSnapshot,
  mtuOf: (n: NetworkIntent) => number,
): NodeIngressPort | undefined {
  const ep = s.intent?.ingressEndpoint;
  const net = ep === undefined ? undefined : s.intent?.networks.get(ep.networkId);
  if (ep === undefined || net === undefined) return undefined;
  const dn = driverNetworkFor(net, ep.ip, dataPathPort(s.intent));
  return {
    network: {
      id: net.id,
      name: net.name,
      vni: net.vni ?? 0,
      subnet: dn.subnet,
      gateway: dn.gateway,
      mtu: mtuOf(net),
      dstPort: dn.dataPathPort,
      encrypted: net.encrypted,
    },
    ip: ep.ip,
    mac: macFromIpv4(parseIpv4(ep.ip) ?? 0),
  };
}

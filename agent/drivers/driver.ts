/**
 * The network-driver interface, in the spirit of libnetwork's driverapi: what the agent
 * asks of every driver (overlay, bridge, macvlan, ipvlan, host, null), and nothing
 * about how a driver builds its kernel objects.
 *
 * libnetwork's drivers change the kernel inside CreateEndpoint/Join. Here the calls only
 * *decide* — validate, choose the endpoint's interface name and MAC, say what joining a
 * sandbox means — and the kernel follows through the driver's reconcilers (desired →
 * observe → plan → apply over the node snapshot, agent/reconcile). So a restarted agent
 * adopts what exists, drift is repaired, and a failed call leaves nothing half-built.
 *
 * What the rest of the agent sees of an endpoint is `EndpointRecord` (address, interface,
 * aliases); the driver's own data (VNI, MTU, data-path port, …) rides along opaquely in
 * `EndpointRecord.driverData`, and what other nodes must learn of it (an overlay's MAC and
 * VTEP) in `EndpointFact.data`. Only the driver reads either.
 *
 * libnetwork's DeleteEndpoint, Leave and DeleteNetwork have no counterpart: an endpoint
 * that leaves a container record leaves the snapshot, so the driver's reconcilers remove
 * its kernel objects (and a network's sandbox with its last endpoint) on their next pass.
 */
import type { KernelCapabilities } from "../probe.js";
import type { NetworkIntent } from "../dispatcher/intent.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import type { EndpointRecord } from "../sandbox/container.js";
import type { EndpointFact } from "../attachments.js";
import type { NodeSnapshot } from "../node-snapshot.js";

/** A network as the agent hands it to a driver: the managers' intent, plus cluster facts. */
export interface DriverNetwork {
  intent: NetworkIntent;
  /** The IPAM config the endpoint's address falls in ("" for networks without IPAM). */
  subnet: string;
  gateway: string;
  /** The cluster's VXLAN data-path port. */
  dataPathPort: number;
}

export interface EndpointRequest {
  containerId: string;
  /** The container's address on the network ("" for drivers without IPAM: host, null). */
  ip: string;
  /** The interface name the sandbox gives it (eth0, eth1, … in attach order). */
  ifname: string;
}

/** What a driver decided for one endpoint; stored in the container record. */
export interface DriverEndpoint {
  mac: string;
  mtu: number;
  /** Opaque to everyone but the driver (JSON-serialisable). */
  driverData: Readonly<Record<string, string | number | boolean>>;
}

/**
 * How a container holds its network stack on networks of this driver:
 *   own     a namespace of its own with one interface per network (overlay, bridge, …)
 *   host    the node's own namespace: no interface of its own (Docker's host network)
 *   none    a namespace of its own with only `lo` (Docker's none network)
 */
export type SandboxKind = "own" | "host" | "none";

export interface JoinInfo {
  /**
   * The container reaches beyond this network through the node's gateway bridge
   * (overlays' egress, Docker's docker_gwbridge) rather than through the network itself.
   */
  gatewayBridge: boolean;
  /**
   * The network routes the container out through its own gateway (a bridge network's,
   * macvlan's): its endpoint holds the default route and the gateway bridge is not needed.
   */
  ownGateway: boolean;
}

export interface NetworkDriver {
  /** The name networks name it by (`network create -d NAME`); the registry key. */
  readonly name: string;
  readonly sandbox: SandboxKind;
  /** Whether endpoints get an address from IPAM (the managers' or the node's). */
  readonly needsAddress: boolean;
  /**
   * Why this kernel cannot run the driver (the probe's missing feature), or undefined
   * when it can. The agent offers, and reports to the managers, only drivers that can run.
   */
  unavailable(caps: KernelCapabilities): string | undefined;
  /** Checks that this node can host the network (options, parent devices…); throws if not. */
  createNetwork(net: DriverNetwork): Promise<void>;
  /** Decides an endpoint's data; pure apart from validation, nothing touches the kernel. */
  createEndpoint(net: DriverNetwork, req: EndpointRequest): DriverEndpoint;
  /** What joining a sandbox means beyond the endpoint's own interface. */
  join(net: DriverNetwork): JoinInfo;
  /**
   * What other nodes must know about a local endpoint (published in its endpoint fact's
   * `data`), or undefined when the network's endpoints are not gossiped (local networks).
   */
  factData(ep: EndpointRecord, advertiseAddr: string): Record<string, string> | undefined;
  /** Facts the driver publishes for the node itself (the overlay's ingress port). */
  nodeFacts?(s: NodeSnapshot): EndpointFact[];
  /** The reconcilers that own this driver's kernel state (none for host and null). */
  readonly reconcilers: readonly Reconciler[];
}

/**
 * The seams between the agent's data plane and the rest of the cluster, as small
 * interfaces owned by their user (the agent):
 * - `NetworkAttacher`: the managers' IPAM, which gives a container an address on a
 *   network (and refuses non-attachable networks, a taken or out-of-subnet `--ip`).
 * - `EndpointTable`: the cluster-wide endpoint facts (NetworkDB's `endpoints` tables over
 *   gossip): this node publishes its own, and learns every other live node's.
 * Stand-ins live beside them for an agent with no cluster (or no gossip) yet.
 */
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import type { DriverNetwork } from "./drivers/driver.js";

/**
 * A container's place on a network, as the managers' IPAM gave it (or a task's scheduler
 * allocated it): the network's intent, the address, and the IPAM config it falls in.
 * Exactly what a driver is handed (`DriverNetwork`) plus the address.
 */
export interface Attachment extends DriverNetwork {
  ip: string;
}

export interface AttachRequest {
  /** Network name or id. */
  network: string;
  containerId: string;
  containerName: string;
  /** A static address, or undefined for the next free one. */
  ip: string | undefined;
}

export interface NetworkAttacher {
  attach(req: AttachRequest): Promise<Attachment>;
  release(networkId: string, containerId: string): Promise<void>;
}

/** What a node says about one of its endpoints (gossiped in its networks' NetworkDB tables). */
export interface EndpointFact {
  networkId: string;
  /** container id + network id */
  key: string;
  ip: string;
  /** The node that owns it. */
  node: string;
  container: string;
  aliases: readonly string[];
  /** The service of a task's endpoint ("" for a standalone container or a node port). */
  serviceId: string;
  /** The service's name (DNS: `NAME`, `tasks.NAME`); "" when not a task. */
  serviceName: string;
  /** The service's VIP on this network (endpoint mode vip); "" otherwise. */
  vip: string;
  /** What the network's driver tells other nodes (an overlay's MAC and VTEP); opaque here. */
  data: Readonly<Record<string, string>>;
}

export interface EndpointTable {
  /** Starts sharing facts of a network (join its NetworkDB group). */
  joinNetwork(networkId: string): void;
  leaveNetwork(networkId: string): void;
  /** Networks joined. */
  networks(): readonly string[];
  publish(fact: EndpointFact): void;
  withdraw(networkId: string, key: string): void;
  /**
   * Facts of every live owner, this node included, on the networks this node joined: the
   * same array until the next change (`version` counts changes).
   */
  all(): readonly EndpointFact[];
  readonly version: number;
  /** Called after any change of `all()`, with the network that changed. */
  onChange(listener: (networkId: string) => void): void;
}

/** An attacher with no managers: every attach fails with a clear reason. */
export class NoClusterAttacher implements NetworkAttacher {
  async attach(req: AttachRequest): Promise<Attachment> {
    throw new SwarmnetError(
      ErrorCode.Unavailable,
      `cannot attach to network ${req.network}: this node has not joined a swarm (run 'swarmnet swarm join')`,
    );
  }

  async release(): Promise<void> {}
}

/** A table that only knows this node: for an agent without gossip (no advertise address). */
export class LocalEndpointTable implements EndpointTable {
  private readonly published = new Map<string, EndpointFact>();
  private readonly joined = new Set<string>();
  private readonly listeners: ((networkId: string) => void)[] = [];
  private list: readonly EndpointFact[] | undefined;
  version = 0;

  joinNetwork(networkId: string): void {
    this.joined.add(networkId);
  }

  leaveNetwork(networkId: string): void {
    this.joined.delete(networkId);
    for (const [k, f] of this.published) if (f.networkId === networkId) this.published.delete(k);
    this.changed(networkId);
  }

  networks(): readonly string[] {
    return [...this.joined];
  }

  publish(fact: EndpointFact): void {
    this.published.set(fact.key, fact);
    this.changed(fact.networkId);
  }

  withdraw(networkId: string, key: string): void {
    if (this.published.delete(key)) this.changed(networkId);
  }

  all(): readonly EndpointFact[] {
    return (this.list ??= [...this.published.values()]);
  }

  onChange(listener: (networkId: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(networkId: string): void {
    this.list = undefined;
    this.version++;
    for (const l of this.listeners) l(networkId);
  }
}

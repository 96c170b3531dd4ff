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

export interface NetworkSpec {
  id: string;
  name: string;
  driver: string;
  vni: number;
  subnet: string;
  gateway: string;
  attachable: boolean;
  internal: boolean;
  ingress: boolean;
  options: Record<string, string>;
}

export interface Attachment {
  network: NetworkSpec;
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

/** What a node says about one of its endpoints. */
export interface EndpointFact {
  networkId: string;
  /** container id + network id */
  key: string;
  ip: string;
  mac: string;
  /** The owner's underlay address (VXLAN tunnel endpoint). */
  vtep: string;
  node: string;
  container: string;
  aliases: string[];
  /** The service of a task's endpoint ("" for a standalone container or a node port). */
  serviceId: string;
}

export interface EndpointTable {
  /** Starts sharing facts of a network (join its NetworkDB group). */
  joinNetwork(networkId: string): Promise<void>;
  leaveNetwork(networkId: string): Promise<void>;
  publish(fact: EndpointFact): void;
  withdraw(networkId: string, key: string): void;
  /** Facts of live remote owners on the networks this node joined. */
  remote(): EndpointFact[];
  /** Facts of every live owner, this node included, on the networks this node joined. */
  all(): EndpointFact[];
  /** Called after any change of `remote()`. */
  onChange(listener: () => void): void;
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

  async joinNetwork(): Promise<void> {}

  async leaveNetwork(): Promise<void> {}

  publish(fact: EndpointFact): void {
    this.published.set(fact.key, fact);
  }

  withdraw(_networkId: string, key: string): void {
    this.published.delete(key);
  }

  remote(): EndpointFact[] {
    return [];
  }

  all(): EndpointFact[] {
    return [...this.published.values()];
  }

  onChange(): void {}
}

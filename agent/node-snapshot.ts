/**
 * One node snapshot: everything the agent's reconcilers compute desired kernel state
 * from — the managers' intent, the gossiped endpoint facts, this node's containers, its
 * own networks and a few facts about the node itself. Taken synchronously at the start of a pass, and every
 * `desired()` is synchronous, so a pass never sees a half-applied change.
 *
 * The parts are immutable values (container records are replaced, never mutated; the
 * endpoint table hands out one array per version); the intent state is the dispatcher's,
 * changed only between passes. A snapshot is reused while none of its sources changed.
 */
import type { EndpointFact, EndpointTable } from "./attachments.js";
import type { IntentState, NetworkIntent } from "./dispatcher/index.js";
import type { LocalNetworks } from "./local-networks.js";
import type { ContainerRecord } from "./sandbox/container.js";
import type { ContainerStore } from "./sandbox/container-store.js";

export interface NodeFacts {
  name: string;
  /** The underlay address other nodes reach this one on; undefined: no gossip, no overlay peers. */
  advertiseAddr: string | undefined;
  underlayMtu: number;
}

export interface NodeSnapshot {
  readonly node: NodeFacts;
  /** The managers' intent; undefined until the node joined a cluster and got a snapshot. */
  readonly intent: IntentState | undefined;
  /** Facts of every live endpoint (this node's included) on the networks this node joined. */
  readonly endpoints: readonly EndpointFact[];
  readonly containers: readonly ContainerRecord[];
  /** The node's own networks: predefined (bridge, host, none) and user-defined local ones. */
  readonly localNetworks: readonly NetworkIntent[];
  /**
   * The agent just started and does not know yet everything it should hold: it is in a
   * cluster and the managers' first intent has not arrived, or gossip has not had time to
   * bring back the other nodes' endpoints. Reconcilers add and repair but remove nothing
   * meanwhile, and the mesh keeps the tables a previous agent left — so a restart never
   * takes a node's published ports or a remote endpoint away, even for a moment.
   */
  readonly settling: boolean;
}

export class NodeState {
  private intentState: IntentState | undefined;
  private intentVersion = 0;
  private cached: { snapshot: NodeSnapshot; key: string } | undefined;
  private settling: boolean;

  /** `joined`: the node was in a cluster when the agent started (it waits for intent). */
  constructor(
    readonly node: NodeFacts,
    private readonly store: ContainerStore,
    private readonly local: LocalNetworks,
    private readonly endpoints: () => EndpointTable,
    joined: boolean,
  ) {
    this.settling = joined;
  }

  get isSettling(): boolean {
    return this.settling;
  }

  /** The agent knows what it should hold: removals may happen from now on. */
  settled(): void {
    this.settling = false;
  }

  get intent(): IntentState | undefined {
    return this.intentState;
  }

  /** The intent changed (the dispatcher applied a batch or a snapshot). */
  setIntent(intent: IntentState | undefined): void {
    this.intentState = intent;
    this.intentVersion++;
  }

  snapshot(): NodeSnapshot {
    const table = this.endpoints();
    const key = `${this.intentVersion}/${this.store.version}/${table.version}/${this.local.version}/${this.settling}`;
    if (this.cached?.key !== key) {
      this.cached = {
        key,
        snapshot: {
          node: this.node,
          intent: this.intentState,
          endpoints: table.all(),
          containers: this.store.all(),
          localNetworks: this.local.all(),
          settling: this.settling,
        },
      };
    }
    return this.cached.snapshot;
  }
}

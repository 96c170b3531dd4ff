/**
 * The routing mesh as the agent's reconcilers: the node namespace's table `swarmnet`
 * (published ports, host-mode ports, `-p`, egress) and one table per container with
 * service VIPs to balance. Desired state comes from mesh-feed.ts; the mesh engine diffs
 * against what it applied (O(changed) kernel work), so these never skip a pass on their
 * own — the engine's model diff is the cheaper "same". A resync pass also replaces each
 * table whole (repairs drift someone else's `nft` made).
 */
import type { Executor } from "../../common/executor.js";
import type { NodeSnapshot } from "../node-snapshot.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import { R } from "../reconcile/triggers.js";
import { containerMeshState, nodeMeshState } from "./mesh-feed.js";
import type { MeshBackendKind } from "./backend-choice.js";
import { IpvsMesh } from "./ipvs-mesh.js";
import type { ApplyStats, LoadBalancer } from "./load-balancer.js";
import type { EgressMasquerade, MeshState } from "./mesh-state.js";
import { Mesh, type MeshOptions } from "./mesh.js";

/** A node's mesh, whichever engine balances it. */
export type NodeMesh = Mesh | IpvsMesh;

/** The mesh of one namespace on the chosen engine (backend-choice.ts). */
export function createMesh(kind: MeshBackendKind, ex: Executor, options: MeshOptions = {}): NodeMesh {
  return kind === "ipvs" ? new IpvsMesh(ex, options) : new Mesh(ex, options);
}

/**
 * `egress`: what the node masquerades on the way out — the gateway bridge's range while
 * it has ports, and the bridge networks' subnets (the composition root knows both).
 * `applied`: told each desired state and what its apply did (the agent's metrics).
 */
export function nodeMeshReconciler(
  mesh: LoadBalancer,
  egress: (s: NodeSnapshot) => EgressMasquerade | undefined,
  applied: (state: MeshState, stats: ApplyStats) => void = () => {},
): Reconciler<MeshState> {
  return {
    name: R.mesh,
    // Until the agent has settled, the table a previous agent left is the best it knows.
    desired: (s) => (s.settling ? undefined : nodeMeshState(s.intent, s.endpoints, s.containers, egress(s))),
    same: () => false,
    apply: async (desired, { resync }) => {
      const stats = await mesh.apply(desired);
      applied(desired, resync ? await mesh.resync() : stats);
    },
  };
}

interface ContainerMesh {
  containerId: string;
  netns: string;
  state: MeshState;
}

/** One mesh per container namespace that has VIPs to balance; dropped with the container. */
export class ContainerMeshes {
  private readonly meshes = new Map<string, LoadBalancer>();

  constructor(
    private readonly ex: Executor,
    private readonly backend: MeshBackendKind = "nftables",
  ) {}

  reconciler(): Reconciler<ContainerMesh[]> {
    return {
      name: R.containerMesh,
      desired: (s) => (s.settling ? undefined : this.desired(s)),
      same: () => false,
      apply: (d, { resync }) => this.apply(d, resync),
    };
  }

  private desired(s: NodeSnapshot): ContainerMesh[] {
    const out: ContainerMesh[] = [];
    for (const c of s.containers) {
      if (c.netns === undefined) continue;
      const state = containerMeshState(s.intent, s.endpoints, c);
      if (state !== undefined) out.push({ containerId: c.id, netns: c.netns, state });
    }
    return out;
  }

  /** Every container's table, one failing not holding back the others; the first error is thrown. */
  private async apply(desired: readonly ContainerMesh[], resync: boolean): Promise<void> {
    let firstError: unknown;
    const live = new Set<string>();
    for (const d of desired) {
      live.add(d.containerId);
      let mesh = this.meshes.get(d.containerId);
      if (mesh === undefined) {
        mesh = createMesh(this.backend, this.ex, { netns: d.netns, config: { forwarding: false } });
        this.meshes.set(d.containerId, mesh);
      }
      try {
        await mesh.apply(d.state);
        if (resync) await mesh.resync();
      } catch (err) {
        firstError ??= err;
      }
    }
    for (const id of this.meshes.keys()) if (!live.has(id)) this.meshes.delete(id);
    if (firstError !== undefined) throw firstError;
  }
}

/**
 * A reconciler owns one piece of the node's kernel state (a driver's objects, the gateway
 * bridge, the routing mesh, encryption…) and keeps it equal to what the node snapshot
 * implies:
 *
 *   desired(snapshot)  pure and synchronous: the state wanted, as a plain value
 *   apply(desired)     observe what it needs of the kernel, plan the difference, apply it
 *                      through the executor; `resync` = trust no cache, re-read the kernel
 *
 * `desired` may return `undefined`: nothing can be decided yet (the mesh before the
 * managers' first intent), and the pass leaves the kernel as it is.
 *
 * The loop (reconcile-loop.ts) compares each new desired value with the last one applied
 * (`same`, deep equality unless given) and skips `apply` when nothing changed, unless the
 * pass is a resync — so a change that does not concern a reconciler costs it one pure
 * computation and no kernel read.
 */
import type { NodeSnapshot } from "../node-snapshot.js";

export interface ApplyContext {
  /** The periodic pass, or a retry after a failure: observe the kernel, trust no cache. */
  resync: boolean;
}

export interface Reconciler<D = unknown> {
  /** Stable; names the reconciler in logs, stats and metrics. */
  readonly name: string;
  desired(snapshot: NodeSnapshot): D | undefined;
  apply(desired: D, ctx: ApplyContext): Promise<void>;
  /** Equality of two desired values; deep equality when absent. */
  same?(a: D, b: D): boolean;
}

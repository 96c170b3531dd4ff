/**
 * The overlay driver's kernel work: reconciles one node's VXLAN overlay kernel state to a
 * desired state.
 * Every call observes the kernel, plans the difference (pure, `plan.ts`) and applies it
 * through the executor as a few batches. Because it starts from what the kernel holds,
 * the same call adopts the objects of a previous agent after a restart (nothing is torn
 * down that is still wanted) and repairs drift (an FDB entry or veth deleted by hand).
 *
 * Only a resync pays for that read. A normal pass (a container run, an endpoint gossiped)
 * plans against what the last successful pass left (`expectedOverlay`): reading every
 * sandbox took three spawns each and, with churn, over a second per pass, which every
 * container operation on the node waited for (#16). The kernel changes under the driver
 * only by hand or by a container's namespace going away; the first is drift the periodic
 * resync repairs, the second leaves a veth the plan removes anyway (a removal that finds
 * the device gone is what it wanted). A failed pass forgets what it knew: the next one reads.
 *
 * Calls are serialized: a reconcile never interleaves with another. If a batch fails, the
 * sandboxes this call created are removed again (no half-built network is left) and the
 * error is thrown; the next reconcile starts over from what the kernel then holds.
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import type { Executor } from "../../../common/executor.js";
import { SerialQueue } from "../../../common/serial-queue.js";
import { DeepChecks } from "../../reconcile/deep-checks.js";
import type { ObservedOverlay, OverlayDesired } from "./model.js";
import { observeOverlay } from "./observe.js";
import { expectedOverlay, isEmptyPlan, planOverlay, type OverlayPlan, type Step } from "./plan.js";
import { vniOfSandbox, vxlanDevice } from "./names.js";

export interface OverlayKernelOptions {
  /** Prefix of the namespaces this driver owns (the agent's `netnsPrefix`). */
  prefix: string;
  /** The node's own namespace; undefined when the agent already runs inside it. */
  nodeNetns?: string;
}

export interface ReconcileResult {
  /** Number of batches applied (0: the kernel already matched). */
  batches: number;
  createdSandboxes: string[];
  deletedSandboxes: string[];
}

export class OverlayKernel {
  private readonly queue = new SerialQueue();
  private readonly deepChecks = new DeepChecks();
  /** What the kernel holds after the last successful pass; undefined: read it. */
  private known: ObservedOverlay | undefined;

  constructor(
    private readonly ex: Executor,
    private readonly options: OverlayKernelOptions,
  ) {}

  /**
   * Makes the kernel match `desired`; serialized with every other call. Containers' sides
   * of their links are looked at closely as reconcile/deep-checks.ts decides (`resync`:
   * the periodic pass that also repairs drift).
   */
  reconcile(desired: OverlayDesired, resync = true): Promise<ReconcileResult> {
    return this.queue.run(async () => {
      const known = resync ? undefined : this.known;
      this.known = undefined;
      const observed =
        known ??
        (await this.observe(
          desired,
          this.deepChecks.pick(
            desired.local.map((e) => e.id),
            resync,
          ),
        ));
      const result = await this.reconcileNow(desired, observed);
      if (desired.addOnly !== true) this.known = expectedOverlay(desired, this.options.prefix);
      return result;
    });
  }

  /** The plan a reconcile would apply now, without applying it (for inspection and tests). */
  async plan(desired: OverlayDesired, deep: ReadonlySet<string> | "all" = "all"): Promise<OverlayPlan> {
    return this.planAgainst(desired, await this.observe(desired, deep));
  }

  private observe(desired: OverlayDesired, deep: ReadonlySet<string> | "all"): Promise<ObservedOverlay> {
    const vnis = new Map(desired.networks.map((n) => [n.id, n.vni]));
    const { prefix, nodeNetns } = this.options;
    return observeOverlay(this.ex, prefix, desired.local, vnis, nodeNetns, deep);
  }

  private planAgainst(desired: OverlayDesired, observed: ObservedOverlay): OverlayPlan {
    const { prefix, nodeNetns } = this.options;
    return planOverlay(desired, observed, prefix, nodeNetns ?? String(process.pid));
  }

  private async reconcileNow(desired: OverlayDesired, observed: ObservedOverlay): Promise<ReconcileResult> {
    const plan = this.planAgainst(desired, observed);
    const result: ReconcileResult = { batches: 0, createdSandboxes: [], deletedSandboxes: [] };
    if (isEmptyPlan(plan)) return result;
    try {
      for (const ns of plan.addNetns) {
        await this.ex.netnsAdd(ns);
        result.createdSandboxes.push(ns);
      }
      for (const step of plan.steps) {
        await this.apply(step);
        result.batches++;
      }
    } catch (err) {
      await this.rollback(result.createdSandboxes);
      throw err;
    }
    for (const ns of plan.deleteNetns) {
      await this.ex.netnsDelete(ns);
      result.deletedSandboxes.push(ns);
    }
    return result;
  }

  private async apply(step: Step): Promise<void> {
    const where = { netns: step.netns ?? this.options.nodeNetns };
    try {
      await (step.tool === "ip"
        ? this.ex.ipBatch(step.lines, where)
        : this.ex.bridgeBatch(step.lines, where));
    } catch (err) {
      if (step.removal === true && isSwarmnetError(err, ErrorCode.KernelNotFound)) return;
      throw err;
    }
  }

  /** Removes sandboxes created by a failed reconcile, and a VXLAN device stranded before its move. */
  private async rollback(created: string[]): Promise<void> {
    for (const ns of created) {
      const vni = vniOfSandbox(this.options.prefix, ns);
      await this.ex.netnsDelete(ns).catch(() => undefined);
      if (vni !== undefined) {
        await this.ex
          .ip(["link", "del", vxlanDevice(vni)], { netns: this.options.nodeNetns })
          .catch(() => undefined);
      }
    }
  }

  /** Removes every sandbox this driver owns (tests and benchmarks). */
  async removeAll(): Promise<void> {
    await this.reconcile({ networks: [], local: [], remote: [] });
  }
}

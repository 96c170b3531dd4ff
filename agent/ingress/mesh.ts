/**
 * The applier: keeps one namespace's table `swarmnet` equal to the desired state, through
 * the executor only. Each `apply` is: build the model (validates; bad input throws before
 * anything runs) → diff against the last applied model → one `nft -f -` (atomic) → the
 * call returns → the conntrack entries of removed backends are deleted next in the same
 * queue (after the ruleset change, so no new connection can pick a removed backend in
 * between; their next packet is NATed afresh to a live one instead of following a stale
 * binding to a gone task). That deletion is one `conntrack -D` process per filter, about
 * 20 ms each, which a change's caller does not wait for: new connections already go to
 * live backends, and the flows to a gone task were failing anyway.
 *
 * The first apply, a change of a static rule's value, and `resync` replace the whole table
 * in one transaction (creating it first, so a missing table is no error); that also
 * repairs any drift, which is why an incremental change that fails is retried once as a
 * full replace. Resync and such a repair set the sysctls again too (the namespace may be
 * a new one). Calls are serialised: each diff starts from what the previous one applied.
 * A conntrack cleanup that fails is logged, kept and retried on the next apply or resync
 * (a resync that meets it throws: its ruleset change did land). `forgetFlows()` runs the
 * cleanup now and reports it, for callers that must know the flows are gone.
 *
 * `flush` removes the table and leaves conntrack alone: connections already NATed keep
 * working until they end.
 */
import type { Clock } from "../../common/clock.js";
import { RealClock } from "../../common/clock.js";
import type { ConntrackFilter, Executor } from "../../common/executor.js";
import type { Logger } from "../../common/logger.js";
import { silentLogger } from "../../common/logger.js";
import { NftSession, type NftSessionStats } from "../../common/nft-session.js";
import { SerialQueue } from "../../common/serial-queue.js";
import { loadMeshConfig, type MeshConfig } from "./config.js";
import { changeSize, diffModels, needsFullRender } from "./diff.js";
import type { ApplyStats, LoadBalancer, RulesetSize } from "./load-balancer.js";
import type { MeshState } from "./mesh-state.js";
import { chainCount, renderChangeScript, renderFlushScript, renderFullScript, ruleCount } from "./render.js";
import { SET_NAMES, buildModel, emptyModel, type TableModel } from "./ruleset-model.js";

export interface MeshOptions {
  /** Namespace whose table this mesh owns; the current one when absent. */
  netns?: string;
  /** Overrides of `MESH_DEFAULTS` (validated). */
  config?: Partial<MeshConfig>;
  clock?: Clock;
  log?: Logger;
  /**
   * Apply through one long-lived `nft -i` (common/nft-session.ts): no process start per
   * change. For the node's table, the hot path; a container's table changes rarely and a
   * process per container would cost more memory than it saves.
   */
  session?: boolean;
}

export class Mesh implements LoadBalancer {
  readonly config: MeshConfig;
  private readonly netns: string | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** What the kernel holds, as far as we know; undefined until the first apply (or after flush). */
  private applied: TableModel | undefined;
  private pendingFlows: ConntrackFilter[] = [];
  private cleanupQueued = false;
  private sysctlsSet = false;
  private readonly queue = new SerialQueue();
  private readonly session: NftSession | undefined;

  constructor(
    private readonly ex: Executor,
    options: MeshOptions = {},
  ) {
    this.config = loadMeshConfig(options.config ?? {});
    this.netns = options.netns;
    this.clock = options.clock ?? new RealClock();
    this.log = options.log ?? silentLogger();
    this.session = options.session === true ? new NftSession(ex, this.ns()) : undefined;
  }

  /** Closes the nft session (idempotent); the table stays as it is. */
  stop(): void {
    this.session?.close();
  }

  apply(desired: MeshState): Promise<ApplyStats> {
    return this.serial(() => this.applyNow(desired));
  }

  resync(): Promise<ApplyStats> {
    return this.serial(async () => {
      const started = this.clock.now();
      const model = this.applied ?? emptyModel();
      const stats = await this.replaceWhole(model, started);
      this.sysctlsSet = false; // drift may be a sysctl too (a recreated namespace)
      await this.ensureSysctls();
      stats.conntrackDeleted = await this.cleanConntrack();
      stats.totalMs = this.clock.now() - started;
      return stats;
    });
  }

  /** Deletes the flows of removed backends still queued, now; rejects if that fails. */
  forgetFlows(): Promise<number> {
    return this.serial(() => this.cleanConntrack());
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      await this.nft(renderFlushScript());
      this.applied = undefined;
      this.pendingFlows = [];
    });
  }

  /** What the long-lived nft did, when this mesh applies through one. */
  sessionStats(): NftSessionStats | undefined {
    return this.session?.stats;
  }

  /** Size of the table as last applied. */
  size(): RulesetSize {
    return sizeOf(this.applied ?? emptyModel());
  }

  private async applyNow(desired: MeshState): Promise<ApplyStats> {
    const started = this.clock.now();
    const prev = this.applied;
    const next = buildModel(desired, prev);
    if (prev === undefined || needsFullRender(prev, next)) {
      const stats = await this.replaceWhole(next, started);
      await this.ensureSysctls();
      stats.conntrackQueued = this.queueCleanup(
        prev === undefined ? [] : diffModels(prev, next).removedFlows,
      );
      stats.totalMs = this.clock.now() - started;
      return stats;
    }
    const diff = diffModels(prev, next);
    const stats = emptyStats(next);
    if (changeSize(diff) > 0) {
      const script = renderChangeScript(diff, this.config.elementsPerStatement);
      const t0 = this.clock.now();
      try {
        await this.nft(script);
        stats.mode = "incremental";
        stats.nftMs = this.clock.now() - t0;
        stats.scriptBytes = script.length;
        stats.elementsAdded = diff.adds.length;
        stats.elementsDeleted = diff.deletes.length;
        stats.chainsAdded = diff.addChains.length;
        stats.chainsDeleted = diff.deleteChains.length;
        this.applied = next;
      } catch (err) {
        // nft -f is atomic: the table is as it was, and it is not what we thought. Replace it.
        this.log.warn({ err, netns: this.netns }, "incremental nft change failed; replacing the table");
        const full = await this.replaceWhole(next, started);
        Object.assign(stats, full, { repairedDrift: true });
        this.sysctlsSet = false;
      }
    } else {
      this.applied = next;
    }
    await this.ensureSysctls();
    stats.conntrackQueued = this.queueCleanup(diff.removedFlows);
    stats.totalMs = this.clock.now() - started;
    return stats;
  }

  /**
   * Sets the namespace's sysctls once, after a table exists: its nat chains load
   * nf_conntrack, whose sysctls these are. Retried on every call until it succeeds.
   */
  private async ensureSysctls(): Promise<void> {
    if (this.sysctlsSet) return;
    await this.ex.sysctl(
      "net.netfilter.nf_conntrack_tcp_timeout_established",
      String(this.config.conntrackEstablishedTimeoutS),
      this.ns(),
    );
    if (this.config.forwarding) await this.ex.sysctl("net.ipv4.ip_forward", "1", this.ns());
    this.sysctlsSet = true;
  }

  /** One transaction that replaces the whole table with `model`. */
  private async replaceWhole(model: TableModel, started: number): Promise<ApplyStats> {
    const script = renderFullScript(model, this.config.elementsPerStatement);
    const t0 = this.clock.now();
    await this.nft(script);
    const stats = emptyStats(model);
    stats.mode = "full";
    stats.nftMs = this.clock.now() - t0;
    stats.scriptBytes = script.length;
    stats.elementsAdded = model.elementCount;
    stats.chainsAdded = stats.size.chains;
    this.applied = model;
    stats.totalMs = this.clock.now() - started;
    return stats;
  }

  /**
   * Queues the deletion of `removed` flows (and any left from a failed earlier try) right
   * after the running call: called from inside the queue, so it runs before any later
   * change. Returns how many filters this call added.
   */
  private queueCleanup(removed: readonly ConntrackFilter[]): number {
    this.pendingFlows.push(...removed);
    if (this.pendingFlows.length > 0 && !this.cleanupQueued) {
      this.cleanupQueued = true;
      void this.queue.run(async () => {
        this.cleanupQueued = false;
        await this.cleanConntrack().catch((err: unknown) =>
          this.log.warn({ err, netns: this.netns }, "conntrack cleanup failed; retrying on the next change"),
        );
      });
    }
    return removed.length;
  }

  /** Deletes the queued flows of removed backends; what fails stays queued. */
  private async cleanConntrack(): Promise<number> {
    const todo = this.pendingFlows;
    this.pendingFlows = [];
    let deleted = 0;
    let firstError: unknown;
    for (const f of todo) {
      try {
        deleted += await this.ex.conntrackDelete(f, this.ns());
      } catch (err) {
        this.pendingFlows.push(f);
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
    return deleted;
  }

  /** One atomic transaction, through the session when there is one. */
  private nft(script: string): Promise<void> {
    return this.session === undefined ? this.ex.nftApply(script, this.ns()) : this.session.apply(script);
  }

  private ns(): { netns?: string } {
    return this.netns === undefined ? {} : { netns: this.netns };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}

export function sizeOf(model: TableModel): RulesetSize {
  return {
    rules: ruleCount(model),
    chains: chainCount(model),
    sets: SET_NAMES.length,
    elements: model.elementCount,
  };
}

function emptyStats(model: TableModel): ApplyStats {
  return {
    mode: "noop",
    repairedDrift: false,
    totalMs: 0,
    nftMs: 0,
    elementsAdded: 0,
    elementsDeleted: 0,
    chainsAdded: 0,
    chainsDeleted: 0,
    conntrackDeleted: 0,
    conntrackQueued: 0,
    scriptBytes: 0,
    size: sizeOf(model),
  };
}

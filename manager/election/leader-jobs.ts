/**
 * The jobs only the leader runs. Each job is started when this manager is elected and
 * stopped the moment it is not the leader any more (campaign lost, shutdown), so two
 * managers never run one job at once for longer than the lease TTL allows.
 *
 * Jobs: etcd compaction (here): every `intervalMs` the leader compacts history older
 * than `keepRevisions` revisions, so etcd does not grow without bound; watches that were
 * behind by more than that resync from a snapshot (`store/watch.ts`). The scheduler
 * (services/scheduler-job.ts) and key rotation (keys/key-rotation-job.ts) are added by
 * the manager. A job whose work must not happen twice across a hand-over keeps its
 * progress in etcd and re-checks it inside its transaction (key rotation does).
 */
import type { Logger } from "../../common/logger.js";
import type { Clock, TimerHandle } from "../../common/clock.js";
import type { Kv } from "../store/kv.js";
import type { LeaderElection } from "./election.js";

export interface LeaderJob {
  readonly name: string;
  start(): void;
  stop(): void;
}

export class LeaderJobs {
  private readonly jobs: LeaderJob[] = [];
  private off: (() => void) | undefined;
  private running = false;

  constructor(
    private readonly election: LeaderElection,
    private readonly log: Logger,
  ) {}

  add(job: LeaderJob): void {
    this.jobs.push(job);
    if (this.running) job.start();
  }

  /** Follows the election: jobs run exactly while this manager leads. */
  attach(): void {
    if (this.off !== undefined) return;
    this.off = this.election.onChange((leading) => (leading ? this.startAll() : this.stopAll()));
    if (this.election.isLeader) this.startAll();
  }

  detach(): void {
    this.off?.();
    this.off = undefined;
    this.stopAll();
  }

  get active(): boolean {
    return this.running;
  }

  private startAll(): void {
    if (this.running) return;
    this.running = true;
    for (const j of this.jobs) {
      this.log.info({ job: j.name }, "leader job started");
      j.start();
    }
  }

  private stopAll(): void {
    if (!this.running) return;
    this.running = false;
    for (const j of this.jobs) {
      j.stop();
      this.log.info({ job: j.name }, "leader job stopped");
    }
  }
}

export class CompactionJob implements LeaderJob {
  readonly name = "etcd-compaction";
  private timer: TimerHandle | undefined;

  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    private readonly opts: { intervalMs: number; keepRevisions: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer ??= this.clock.setInterval(() => void this.runOnce(), this.opts.intervalMs);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Compacts to `current − keepRevisions`; returns the revision compacted to (0 = none). */
  async runOnce(): Promise<number> {
    try {
      const { revision } = await this.kv.get("\0");
      const target = revision - this.opts.keepRevisions;
      if (target <= 1) return 0;
      await this.kv.compact(target);
      this.log.info({ revision: target }, "compacted etcd history");
      return target;
    } catch (err) {
      // Already compacted past it (another leader a moment ago) or etcd away: next round.
      this.log.warn({ err: String(err) }, "compaction skipped");
      return 0;
    }
  }
}

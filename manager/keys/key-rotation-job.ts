/**
 * The leader job that rotates the keys on schedule. It keeps no schedule of its own: the
 * due time is read from the cluster record (last rotation + interval, see
 * rotation-plan.ts), so a new leader takes over exactly where the old one was — it
 * rotates at once if the rotation is overdue, and never a second time for one interval.
 *
 *   start   arm a timer at the due time of the cluster record in the mirror
 *   fire    `KeyManager.rotateIfDue` (one transaction that re-checks the due time), then
 *           re-arm once the mirror has the new record
 *   change  any write of the cluster record (a rotation by another manager, `swarm
 *           rotate-keys`, `swarm update --key-rotation-interval`) re-arms the timer
 *   fail    etcd unreachable: try again after `retryMs`
 *
 * Timers are the injected Clock's (virtual in tests); "now" for the due time is wall time
 * (`now()`), because the due time is stored as wall time shared by every manager. A timer
 * is never set further than `MAX_ARM_MS` ahead (the job re-checks then), which keeps
 * delays inside what setTimeout can hold and survives a wall clock that jumps.
 */
import type { Clock, TimerHandle } from "../../common/clock.js";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { LeaderJob } from "../election/leader-jobs.js";
import { keys } from "../store/keys.js";
import { decode, type ClusterRecord } from "../store/records.js";
import type { PrefixMirror } from "../store/watch.js";
import type { KeyManager } from "./key-manager.js";
import { nextRotationAt } from "./rotation-plan.js";

/** Longest single timer: the job wakes at least this often to look at the schedule again. */
const MAX_ARM_MS = 3_600_000;

export interface KeyRotationJobOptions {
  /** Pause before trying again after a failed rotation (etcd unreachable). */
  retryMs: number;
}

/** What the job reads the cluster record from: the manager's mirror of the store. */
export type ClusterSource = Pick<PrefixMirror, "entry" | "subscribe" | "waitFor">;

export class KeyRotationJob implements LeaderJob {
  readonly name = "key-rotation";
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  private running = false;
  private busy = false;
  /** Rotations this manager made, for tests and metrics. */
  rotations = 0;

  constructor(
    private readonly keyManager: KeyManager,
    private readonly source: ClusterSource,
    private readonly clock: Clock,
    private readonly now: () => Date,
    private readonly opts: KeyRotationJobOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.source.subscribe((change) => {
      if (change.events.some((e) => e.key === keys.cluster)) this.arm();
    });
    this.arm();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** (Re)sets the timer at the due time of the cluster record the mirror holds now. */
  private arm(delayMs?: number): void {
    if (!this.running || this.busy) return;
    this.timer?.cancel();
    this.timer = undefined;
    let delay = delayMs;
    if (delay === undefined) {
      const entry = this.source.entry(keys.cluster);
      if (entry === undefined) return; // not initialised: the record's creation re-arms
      const cluster = decode<ClusterRecord>(entry.key, entry.value);
      delay = nextRotationAt(cluster) - this.now().getTime();
    }
    this.timer = this.clock.setTimeout(() => void this.fire(), Math.min(MAX_ARM_MS, Math.max(0, delay)));
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (!this.running || this.busy) return;
    this.busy = true;
    let retry = false;
    try {
      const result = await this.keyManager.rotateIfDue();
      if (result !== undefined) {
        this.rotations++;
        this.log.info(
          {
            tag: result.tag,
            data: result.steps.data,
            gossip: result.steps.gossip,
            revision: result.revision,
          },
          "rotated encryption keys",
        );
        await this.source.waitFor(result.revision, 5_000);
      }
    } catch (err) {
      retry = true;
      this.log.warn({ err: errorMessage(err) }, "key rotation failed; trying again");
    } finally {
      this.busy = false;
    }
    this.arm(retry ? this.opts.retryMs : undefined);
  }
}

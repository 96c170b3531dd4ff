/**
 * What the scenario did and when, as the invariants need it: the events (each step that
 * acted, with its start and end) and, per node, the intervals during which the scenario
 * itself disturbed it.
 *
 * A node is disturbed while its agent is killed or paused (`agent` kind) or its underlay
 * is cut, lossy, partitioned away (the smaller side) or its link is down (`network`
 * kind), from the step that did it to the step that undid it (`cont`, `restart`,
 * `link-up`, `heal`); a node that joins is disturbed until its join returns; one that
 * leaves or is removed stays disturbed. Managers and etcd members paused or killed do not
 * disturb a node's data plane: requests through it must keep working.
 *
 * Requests through a disturbed node are expected to fail and are not counted against
 * recovery; a member seen dead is a false death unless it, or the node that saw it cut
 * off, was disturbed within `DEATH_GRACE_MS` before (gossip takes a while to take back a
 * death after the fault heals).
 */
export type DisturbKind = "agent" | "network" | "membership";

export interface Interval {
  node: string;
  kind: DisturbKind;
  from: number;
  /** undefined: still open. */
  to?: number;
  why: string;
}

export interface ChaosEvent {
  index: number;
  text: string;
  nodes: string[];
  at: number;
  endedAt: number;
  /** What the step did, in words (the FDB entry deleted, "delay unavailable: …"). */
  detail: string[];
}

/** How long after a disturbance ends a death of that member (or seen by it) is still excused. */
export const DEATH_GRACE_MS = 60_000;

export class Timeline {
  readonly events: ChaosEvent[] = [];
  readonly intervals: Interval[] = [];

  open(node: string, kind: DisturbKind, at: number, why: string): void {
    if (this.intervals.some((i) => i.node === node && i.kind === kind && i.to === undefined)) return;
    this.intervals.push({ node, kind, from: at, why });
  }

  close(node: string, kind: DisturbKind, at: number): void {
    for (const i of this.intervals) if (i.node === node && i.kind === kind && i.to === undefined) i.to = at;
  }

  closeAll(
    at: number,
    kinds: readonly DisturbKind[] = ["agent", "network"],
    except: ReadonlySet<string> = new Set(),
  ): void {
    for (const i of this.intervals)
      if (i.to === undefined && kinds.includes(i.kind) && !except.has(i.node)) i.to = at;
  }

  /** Was `node` disturbed at time `t` (optionally only by some kinds)? */
  disturbedAt(node: string, t: number, kinds?: readonly DisturbKind[]): boolean {
    return this.intervals.some(
      (i) =>
        i.node === node &&
        (kinds === undefined || kinds.includes(i.kind)) &&
        i.from <= t &&
        (i.to ?? Infinity) >= t,
    );
  }

  /** Disturbed at any time within [t - graceMs, t]? */
  disturbedWithin(node: string, t: number, graceMs: number, kinds?: readonly DisturbKind[]): boolean {
    return this.intervals.some(
      (i) =>
        i.node === node &&
        (kinds === undefined || kinds.includes(i.kind)) &&
        i.from <= t &&
        (i.to ?? Infinity) >= t - graceMs,
    );
  }

  /** Is `member` seen dead by `observer` at `t` explained by the scenario? */
  deathExcused(observer: string, member: string, t: number): boolean {
    return (
      this.disturbedWithin(member, t, DEATH_GRACE_MS) ||
      this.disturbedWithin(observer, t, DEATH_GRACE_MS, ["network", "membership"])
    );
  }
}

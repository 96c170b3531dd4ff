/**
 * The SWIM state machine (memberlist's state.go): who we know, in which state, at which
 * incarnation, and the rules that move a member between states when an alive, suspect
 * or dead message arrives — from gossip, from a probe, or from a push-pull.
 *
 *   alive(inc, addr, meta)  accepted when inc is newer than what we hold (or the member is
 *                           new); about ourselves it is accepted only if it is our own
 *                           announcement, anything else is refuted.
 *   suspect(inc, from)      alive → suspect and a Lifeguard suspicion timer starts; while
 *                           suspected, each distinct accuser is a confirmation that shortens
 *                           the timer. About ourselves: refute.
 *   dead(inc, from)         → dead (from ≠ node) or left (from = node, a graceful leave).
 *                           About ourselves: refute, unless we are leaving. Another
 *                           member's verdict on one we still see alive (its suspicion
 *                           never reached us) only makes us suspect it: unlike memberlist,
 *                           a partition's small side cannot kill the majority at the heal.
 *   refute                  our incarnation jumps above the accusation's and we broadcast
 *                           alive; the health score worsens (Lifeguard: we were slow).
 *
 * A message is re-broadcast only when it changed our state (or added a confirmation), so
 * news spreads once per member and dies out. Names are bound to addresses: an alive
 * message for a known name from another address is a conflict and is refused unless the
 * old holder left (or is dead and the reclaim time has passed).
 *
 * The table also owns the probe order (round-robin over a shuffled list, reshuffled and
 * reaped of long-dead members each pass, which bounds the time to probe everyone) and
 * random member selection for gossip and indirect probes.
 *
 * Side effects (queueing broadcasts, events, metrics) go through `MemberTableHooks`.
 *
 * Long on purpose: every state transition of a member (alive, suspect, dead, left,
 * with incarnations) in one place, so the rules can be read and tested together.
 */
import type { Clock } from "../../common/clock.js";
import type { AliveMsg, DeadMsg, GossipMessage, MemberState, PushPullNode, SuspectMsg } from "./codec.js";
import type { GossipConfig } from "./config.js";
import { expectedConfirmations, suspicionTimeoutMs } from "./protocol-math.js";
import { randomInt, shuffle, type Random } from "./random.js";
import { Suspicion } from "./suspicion.js";

/** What the rest of the agent sees of a member. */
export interface Member {
  name: string;
  /** The member's gossip IP address. */
  addr: string;
  port: number;
  state: MemberState;
  incarnation: number;
  /** Opaque metadata the member publishes about itself (the agent: its underlay/VTEP address). */
  meta: Uint8Array;
}

export interface MemberRecord {
  name: string;
  /** "ip:port" of its gossip transport. */
  addr: string;
  meta: Uint8Array;
  incarnation: number;
  state: MemberState;
  stateChangeMs: number;
  suspicion: Suspicion | undefined;
}

export interface FailedMember {
  name: string;
  addr: string;
  sinceMs: number;
}

export type MemberEventType = "join" | "update" | "leave" | "dead";

export interface MemberTableHooks {
  /** Queue `msg` for gossip; `key` invalidates older news about the same member. */
  broadcast(key: string, msg: GossipMessage, onDone?: (sent: boolean) => void): void;
  event(type: MemberEventType, member: MemberRecord): void;
  /** Someone claims a known name from another address. */
  conflict(existing: MemberRecord, claim: AliveMsg): void;
  /** We refuted an accusation against ourselves. */
  refuted(): void;
  /** A suspicion started here (counted for metrics). */
  suspected(member: MemberRecord): void;
  /** Our suspicion timer expired and we declared the member dead. */
  declaredDead(member: MemberRecord): void;
}

export interface AliveOptions {
  /** Learn silently: no broadcast (used to seed a converged cluster in the simulator). */
  quiet?: boolean;
}

export class MemberTable {
  readonly local: MemberRecord;
  /** Set by leave(): our own death is then expected, not refuted. */
  leaving = false;
  private readonly byName = new Map<string, MemberRecord>();
  private readonly order: MemberRecord[] = [];
  private probeIndex = 0;
  private readonly counts: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
  /** Members declared dead (not left), kept past reaping for reconnect attempts. */
  private readonly failed = new Map<string, FailedMember>();
  /** Names of alive + suspect members in sorted order (slotted probing); undefined = rebuild. */
  private sortedLive: string[] | undefined;
  /** Set while merging a whole remote state: changes then invalidate `sortedLive`. */
  private bulk = false;
  private slottedProbes = 0;

  constructor(
    private readonly cfg: GossipConfig,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly hooks: MemberTableHooks,
    localAddr: string,
    localMeta: Uint8Array,
  ) {
    this.local = {
      name: cfg.nodeName,
      addr: localAddr,
      meta: localMeta,
      incarnation: 1,
      state: "alive",
      stateChangeMs: clock.now(),
      suspicion: undefined,
    };
    this.byName.set(this.local.name, this.local);
    this.order.push(this.local);
    this.counts.alive = 1;
  }

  get(name: string): MemberRecord | undefined {
    return this.byName.get(name);
  }

  /** Every known member, ourselves included (dead ones until reaped). */
  all(): readonly MemberRecord[] {
    return this.order;
  }

  /** Members by state. */
  stateCounts(): Readonly<Record<MemberState, number>> {
    return this.counts;
  }

  /** Alive + suspect members, ourselves included: the N of the protocol maths. */
  liveCount(): number {
    return this.counts.alive + this.counts.suspect;
  }

  /** Every known member, for the retransmit limit (memberlist counts the whole list). */
  knownCount(): number {
    return this.order.length;
  }

  /** Our own announcement, as broadcast and as sent in push-pulls. */
  localAlive(): AliveMsg {
    const l = this.local;
    return { incarnation: l.incarnation, node: l.name, addr: l.addr, meta: l.meta };
  }

  /** Announces ourselves (start, join): broadcast our alive message. */
  announce(): void {
    this.hooks.broadcast(this.local.name, { kind: "alive", alive: this.localAlive() });
  }

  /** New metadata: a new incarnation carries it to everyone. */
  setLocalMeta(meta: Uint8Array): void {
    this.local.meta = meta;
    this.local.incarnation++;
    this.announce();
  }

  // ---------------------------------------------------------------- SWIM rules

  aliveNode(a: AliveMsg, opts: AliveOptions = {}): void {
    const isLocal = a.node === this.local.name;
    if (isLocal && this.leaving) return;
    let st = this.byName.get(a.node);
    let isNew = false;
    let addrChanged = false;
    if (st === undefined) {
      st = {
        name: a.node,
        addr: a.addr,
        meta: a.meta,
        incarnation: a.incarnation,
        state: "dead",
        stateChangeMs: this.clock.now(),
        suspicion: undefined,
      };
      this.insert(st);
      isNew = true;
    } else if (st.addr !== a.addr) {
      const reclaimable =
        st.state === "left" ||
        (st.state === "dead" &&
          this.cfg.deadNodeReclaimMs > 0 &&
          this.clock.now() - st.stateChangeMs >= this.cfg.deadNodeReclaimMs);
      if (!reclaimable || isLocal) {
        this.hooks.conflict(st, a);
        return;
      }
      addrChanged = true;
    }
    if (!isNew && !addrChanged) {
      if (isLocal) {
        if (a.incarnation < st.incarnation) return;
        // Our own announcement coming back: nothing to do.
        if (a.incarnation === st.incarnation && bytesEqual(a.meta, st.meta)) return;
        // Someone speaks for us with another incarnation or metadata: set it right.
        this.refute(a.incarnation);
        return;
      }
      if (a.incarnation <= st.incarnation) return;
    }
    st.suspicion?.cancel();
    st.suspicion = undefined;
    if (opts.quiet !== true) this.hooks.broadcast(a.node, { kind: "alive", alive: a });
    const wasDown = isNew || st.state === "dead" || st.state === "left";
    const metaChanged = !bytesEqual(st.meta, a.meta);
    st.incarnation = a.incarnation;
    st.meta = a.meta;
    st.addr = a.addr;
    if (st.state !== "alive") this.setState(st, "alive");
    if (wasDown) this.hooks.event("join", st);
    else if (metaChanged || addrChanged) this.hooks.event("update", st);
  }

  suspectNode(s: SuspectMsg): void {
    const st = this.byName.get(s.node);
    if (st === undefined || s.incarnation < st.incarnation) return;
    if (st.suspicion !== undefined) {
      if (st.suspicion.confirm(s.from)) this.hooks.broadcast(s.node, { kind: "suspect", suspect: s });
      return;
    }
    if (st.state !== "alive") return;
    if (st === this.local) {
      this.refute(s.incarnation);
      return;
    }
    this.hooks.broadcast(s.node, { kind: "suspect", suspect: s });
    st.incarnation = s.incarnation;
    this.setState(st, "suspect");
    this.hooks.suspected(st);
    const n = this.liveCount();
    const k = expectedConfirmations(this.cfg.suspicionMult, n);
    const min = suspicionTimeoutMs(this.cfg.suspicionMult, n, this.cfg.probeIntervalMs);
    const max = this.cfg.suspicionMaxTimeoutMult * min;
    const incarnation = s.incarnation;
    st.suspicion = new Suspicion(s.from, k, min, max, this.clock, () => {
      if (st.state !== "suspect" || st.incarnation !== incarnation) return;
      st.suspicion = undefined;
      this.hooks.declaredDead(st);
      this.deadNode({ incarnation, node: st.name, from: this.local.name });
    });
  }

  deadNode(d: DeadMsg, onDone?: (sent: boolean) => void): void {
    const st = this.byName.get(d.node);
    if (st === undefined || d.incarnation < st.incarnation) return;
    st.suspicion?.cancel();
    st.suspicion = undefined;
    if (st.state === "dead" || st.state === "left") return;
    if (st === this.local && !this.leaving) {
      this.refute(d.incarnation);
      return;
    }
    if (st.state === "alive" && d.from !== d.node && d.from !== this.local.name) {
      // Another member's verdict on one we never heard suspected: its suspicion did not
      // reach us, so it was likely cut off from us too (a partition's small side whose
      // timers ran out after the heal). Only a suspicion here, which the member refutes.
      this.suspectNode({ incarnation: d.incarnation, node: d.node, from: d.from });
      return;
    }
    this.hooks.broadcast(d.node, { kind: "dead", dead: d }, onDone);
    st.incarnation = d.incarnation;
    const left = d.node === d.from;
    this.setState(st, left ? "left" : "dead");
    this.hooks.event(left ? "leave" : "dead", st);
  }

  /** Applies a peer's full state (push-pull), memberlist's mergeState rules. */
  mergeRemote(nodes: readonly PushPullNode[], opts: AliveOptions = {}): void {
    this.bulk = nodes.length > 16;
    try {
      this.mergeEach(nodes, opts);
    } finally {
      this.bulk = false;
    }
  }

  private mergeEach(nodes: readonly PushPullNode[], opts: AliveOptions): void {
    for (const r of nodes) {
      switch (r.state) {
        case "alive":
          this.aliveNode({ incarnation: r.incarnation, node: r.name, addr: r.addr, meta: r.meta }, opts);
          break;
        case "left":
          this.deadNode({ incarnation: r.incarnation, node: r.name, from: r.name });
          break;
        case "dead":
        case "suspect":
          // A peer's verdict is only a suspicion here: we give the member its chance to refute.
          this.suspectNode({ incarnation: r.incarnation, node: r.name, from: this.local.name });
          break;
      }
    }
  }

  /** Our view for a push-pull. */
  pushPullNodes(): PushPullNode[] {
    return this.order.map((m) => ({
      name: m.name,
      addr: m.addr,
      meta: m.meta,
      incarnation: m.incarnation,
      state: m.state,
    }));
  }

  private refute(accusedIncarnation: number): void {
    let inc = this.local.incarnation + 1;
    if (accusedIncarnation >= inc) inc = accusedIncarnation + 1;
    this.local.incarnation = inc;
    this.announce();
    this.hooks.refuted();
  }

  private setState(st: MemberRecord, state: MemberState): void {
    const wasLive = st.state === "alive" || st.state === "suspect";
    const isLive = state === "alive" || state === "suspect";
    if (wasLive !== isLive) this.liveChanged(st.name, isLive);
    this.counts[st.state]--;
    this.counts[state]++;
    st.state = state;
    st.stateChangeMs = this.clock.now();
    if (state === "dead" && st !== this.local) {
      this.failed.set(st.name, { name: st.name, addr: st.addr, sinceMs: st.stateChangeMs });
    } else if (this.failed.size > 0) {
      this.failed.delete(st.name);
    }
  }

  /**
   * A random failed member to try reconnecting to, forgetting those failed for longer
   * than `timeoutMs`; undefined when there is none.
   */
  randomFailed(timeoutMs: number): FailedMember | undefined {
    if (this.failed.size === 0) return undefined;
    const now = this.clock.now();
    for (const f of this.failed.values()) if (now - f.sinceMs > timeoutMs) this.failed.delete(f.name);
    let i = randomInt(this.random, this.failed.size);
    for (const f of this.failed.values()) if (i-- === 0) return f;
    return undefined;
  }

  get failedCount(): number {
    return this.failed.size;
  }

  private insert(st: MemberRecord): void {
    this.byName.set(st.name, st);
    this.counts[st.state]++;
    // At a random place, so a burst of joins is not probed in arrival order.
    const at = randomInt(this.random, this.order.length + 1);
    const displaced = this.order[at];
    if (displaced === undefined) this.order.push(st);
    else {
      this.order[at] = st;
      this.order.push(displaced);
    }
  }

  // ---------------------------------------------------------------- selection

  /**
   * The next member to probe: round-robin over the list, skipping ourselves and the dead.
   * At the end of each pass the list is reaped of members dead for longer than
   * gossipToTheDead and reshuffled (SWIM's time-bounded completeness).
   */
  nextProbeTarget(): MemberRecord | undefined {
    for (let checked = 0; checked <= this.order.length;) {
      if (this.probeIndex >= this.order.length) {
        this.resetOrder();
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const m = this.order[this.probeIndex++] as MemberRecord;
      if (m === this.local || m.state === "dead" || m.state === "left") {
        checked++;
        continue;
      }
      return m;
    }
    return undefined;
  }

  /**
   * The member to probe in `round` under the slotted schedule. Every member sorts the live
   * members by name; in round R the member at sorted index i probes index
   * (i + 1 + R mod (n − 1)) mod n. For each R that is a permutation without fixed points:
   * with consistent views every live member is probed exactly once per round, so a crash
   * is probed within about one interval (under independent random orders the first probe
   * is a Poisson arrival: mean one interval, but 4.6 intervals at p99). Over n − 1 rounds
   * each member probes every other once, as round-robin does. Views that disagree only
   * make some rounds probe a member twice and another not at all.
   */
  slottedProbeTarget(round: number): MemberRecord | undefined {
    let list = this.sortedLive;
    if (list === undefined) {
      list = [];
      for (const m of this.order) if (m.state === "alive" || m.state === "suspect") list.push(m.name);
      list.sort();
      this.sortedLive = list;
    }
    // Reap and reshuffle at the same cadence as a round-robin pass would.
    if (++this.slottedProbes >= this.order.length) {
      this.slottedProbes = 0;
      this.resetOrder();
    }
    const n = list.length;
    if (n < 2) return undefined;
    const self = lowerBound(list, this.local.name);
    const c = ((round % (n - 1)) + (n - 1)) % (n - 1);
    const name = list[(self + 1 + c) % n] as string;
    return this.byName.get(name);
  }

  private liveChanged(name: string, live: boolean): void {
    const list = this.sortedLive;
    if (list === undefined) return;
    if (this.bulk) {
      this.sortedLive = undefined;
      return;
    }
    const i = lowerBound(list, name);
    const present = list[i] === name;
    if (live && !present) list.splice(i, 0, name);
    else if (!live && present) list.splice(i, 1);
  }

  private resetOrder(): void {
    const now = this.clock.now();
    let w = 0;
    for (const m of this.order) {
      const gone =
        (m.state === "dead" || m.state === "left") && now - m.stateChangeMs > this.cfg.gossipToTheDeadMs;
      if (gone && m !== this.local) {
        this.byName.delete(m.name);
        this.counts[m.state]--;
        continue;
      }
      this.order[w++] = m;
    }
    this.order.length = w;
    shuffle(this.random, this.order);
  }

  /**
   * Up to `k` distinct random members other than ourselves that pass `accept`, appended
   * to `out` (memberlist's kRandomNodes: random probing, at most 3n tries).
   */
  randomMembers(k: number, accept: (m: MemberRecord) => boolean, out: MemberRecord[]): MemberRecord[] {
    const n = this.order.length;
    const start = out.length;
    for (let tries = 0; tries < 3 * n && out.length - start < k; tries++) {
      const m = this.order[randomInt(this.random, n)] as MemberRecord;
      if (m === this.local || !accept(m)) continue;
      let dup = false;
      for (let i = start; i < out.length; i++) if (out[i] === m) dup = true;
      if (!dup) out.push(m);
    }
    return out;
  }

  /** Cancels every suspicion timer (stop). */
  cancelTimers(): void {
    for (const m of this.order) {
      m.suspicion?.cancel();
      m.suspicion = undefined;
    }
  }
}

/** First index whose name is ≥ `name` (the list is sorted). */
function lowerBound(list: readonly string[], name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as string) < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

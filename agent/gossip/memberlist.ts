/**
 * A cluster member: SWIM membership with Lifeguard over a `Transport`, after HashiCorp
 * memberlist. This file wires the parts and owns what crosses the wire:
 *
 *   - every outgoing packet is a compound: its own messages first, then as many queued
 *     broadcasts (membership, then the delegate's — NetworkDB) as fit the packet budget;
 *   - the gossip loop sends queued broadcasts to `gossipNodes` random members every
 *     `gossipInterval` (members dead for less than gossipToTheDead included, so a
 *     wrongly dead member hears it and refutes);
 *   - push-pull: full state with one random member every pushPullScale(interval, N), and
 *     with each seed on join;
 *   - inbound packets pass codec.openPacket; state messages are applied before pings
 *     are answered, so an ack already carries a refutation the packet provoked.
 *
 * The failure detector is probe.ts, the state rules member-table.ts. The protocol core
 * speaks callbacks (see transport.ts); join() and leave() wrap them in promises.
 *
 * Long on purpose: the SWIM state machine (probe, suspect, refute, push-pull) reads
 * as one flow; its pieces with their own state already live beside it (probe.ts,
 * suspicion.ts, awareness.ts, broadcast-queue.ts, member-table.ts).
 */
import { RealClock, type Clock, type TimerHandle } from "../../common/clock.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { Awareness } from "./awareness.js";
import { BroadcastQueue } from "./broadcast-queue.js";
import {
  compoundEntryCost,
  EMPTY_BYTES,
  encodeMessage,
  openPacket,
  packetOverhead,
  sealPacket,
  type AliveMsg,
  type GossipMessage,
  type PacketOpener,
  type PacketSealer,
  type MemberState,
  type PushPullNode,
} from "./codec.js";
import type { GossipConfig } from "./config.js";
import { Emitter } from "./events.js";
import { Keyring } from "./keyring.js";
import { MemberTable, type Member, type MemberRecord } from "./member-table.js";
import { GossipCounters, snapshotMetrics, type GossipMetrics } from "./metrics.js";
import { ackFor, Prober } from "./probe.js";
import { pushPullScaleMs, retransmitLimit } from "./protocol-math.js";
import { mathRandom, randomInt, type Random } from "./random.js";
import { splitHostPort, type Transport } from "./transport.js";

/** The layer above membership (NetworkDB) plugs in here, as memberlist's Delegate. */
export interface MemberlistDelegate {
  /** Broadcasts waiting to be piggy-backed (0 lets the gossip loop skip a round). */
  pendingBroadcasts(): number;
  /** Appends encoded `user` GossipMessages fitting `budgetBytes` to `out`; returns bytes used. */
  takeBroadcasts(budgetBytes: number, out: Uint8Array[]): number;
  /** A `user` message arrived in a packet. */
  onUserMessage(payload: Uint8Array, from: string): void;
  /** A `user` stream request arrived; call `reply` once. */
  onUserRequest(payload: Uint8Array, from: string, reply: (payload: Uint8Array) => void): void;
  /** Our state for a push-pull. */
  localState(join: boolean): Uint8Array;
  /** A peer's state from a push-pull. */
  mergeRemoteState(state: Uint8Array, join: boolean): void;
}

export interface MemberConflict {
  /** The member we know under that name. */
  existing: Member;
  /** The address that claims the same name. */
  claimAddr: string;
}

export type MemberlistEvents = {
  /** A member joined, or came back after being dead or having left. */
  join: (m: Member) => void;
  /** A member's metadata (or address) changed. */
  update: (m: Member) => void;
  /** A member left gracefully. */
  leave: (m: Member) => void;
  /** A member was declared dead. */
  dead: (m: Member) => void;
  /** Another address claims a known name; it is refused. */
  conflict: (c: MemberConflict) => void;
};

export interface MemberlistOptions {
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Overrides the keyring built from config.encryptionKeys. */
  keyring?: Keyring;
  /** Our initial metadata. */
  meta?: Uint8Array;
  /** Wall-clock ms for aligning probe rounds across members (default Date.now). */
  wallClock?: () => number;
}

type RunState = "new" | "running" | "stopped";

export class Memberlist {
  readonly config: GossipConfig;
  readonly keyring: Keyring;
  readonly transport: Transport;
  /** The clock and randomness this member runs on (NetworkDB shares them). */
  readonly clock: Clock;
  readonly random: Random;
  private readonly log: Logger;
  private readonly table: MemberTable;
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly counters = new GossipCounters();
  private readonly prober: Prober;
  private readonly emitter: Emitter<MemberlistEvents>;
  private readonly sealer: PacketSealer;
  private readonly packetOpener: PacketOpener;
  private readonly streamOpener: PacketOpener;
  private delegate: MemberlistDelegate | undefined;
  private runState: RunState = "new";
  private gossipTimer: TimerHandle | undefined;
  private pushPullTimer: TimerHandle | undefined;
  private reconnectTimer: TimerHandle | undefined;
  private rejoinTimer: TimerHandle | undefined;
  /** Seeds of the last join(), retried while we are alone. */
  private seeds: string[] = [];
  private readonly parts: Uint8Array[] = [];
  private readonly targets: MemberRecord[] = [];

  constructor(config: GossipConfig, transport: Transport, opts: MemberlistOptions = {}) {
    this.config = config;
    this.transport = transport;
    this.clock = opts.clock ?? new RealClock();
    this.random = opts.random ?? mathRandom;
    this.log = (opts.logger ?? silentLogger()).child({ component: "gossip", node: config.nodeName });
    this.keyring = opts.keyring ?? Keyring.fromBase64(config.encryptionKeys);
    this.awareness = new Awareness(config.awarenessMaxMultiplier);
    this.emitter = new Emitter<MemberlistEvents>((event, err) =>
      this.log.error({ event, err }, "gossip event listener failed"),
    );
    const label = Buffer.from(config.clusterLabel, "utf8");
    this.sealer = { label, keyring: this.keyring };
    this.packetOpener = {
      label: config.clusterLabel,
      labelBytes: label,
      keyring: this.keyring,
      maxBytes: config.maxPacketBytes,
    };
    this.streamOpener = { ...this.packetOpener, maxBytes: config.maxStreamBytes };
    this.queue = new BroadcastQueue(
      () => retransmitLimit(config.retransmitMult, this.table.knownCount()),
      compoundEntryCost,
    );
    this.table = new MemberTable(
      config,
      this.clock,
      this.random,
      {
        broadcast: (key, msg, onDone) => this.queue.enqueue(key, encodeMessage(msg), onDone),
        event: (type, rec) => {
          if (type === "dead") this.log.info({ member: rec.name }, "member dead");
          if (this.emitter.has(type)) this.emitter.emit(type, toMember(rec));
        },
        conflict: (existing, claim) => this.onConflict(existing, claim),
        refuted: () => {
          this.counters.refutations++;
          this.awareness.applyDelta(1);
        },
        suspected: () => this.counters.suspicionsStarted++,
        declaredDead: () => this.counters.deathsDeclared++,
      },
      transport.advertiseAddr,
      checkMeta(opts.meta ?? EMPTY_BYTES),
    );
    this.prober = new Prober({
      cfg: config,
      clock: this.clock,
      random: this.random,
      table: this.table,
      awareness: this.awareness,
      counters: this.counters,
      localAddr: transport.advertiseAddr,
      wallClock: opts.wallClock ?? Date.now,
      send: (addr, messages) => this.send(addr, messages),
      streamRequest: (addr, message, timeoutMs, cb) =>
        this.streamRequest(addr, message, timeoutMs, (m) => cb(m)),
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts listening, probing and gossiping; idempotent. */
  start(): void {
    if (this.runState !== "new") return;
    this.runState = "running";
    this.transport.listen({
      packet: (data, from) => this.onPacket(data, from),
      stream: (data, from, reply) => this.onStream(data, from, reply),
    });
    this.table.announce();
    this.prober.start();
    const phase = randomInt(this.random, this.config.gossipIntervalMs);
    this.gossipTimer = this.clock.setTimeout(() => {
      this.gossip();
      this.gossipTimer = this.clock.setInterval(() => this.gossip(), this.config.gossipIntervalMs);
    }, phase);
    this.schedulePushPull(true);
    if (this.config.reconnectIntervalMs > 0) {
      this.reconnectTimer = this.clock.setInterval(() => this.reconnect(), this.config.reconnectIntervalMs);
    }
    if (this.config.rejoinIntervalMs > 0) {
      this.rejoinTimer = this.clock.setInterval(() => this.rejoinIfAlone(), this.config.rejoinIntervalMs);
    }
    this.log.debug({ addr: this.transport.advertiseAddr }, "gossip started");
  }

  /** Stops every timer and closes the transport (the Memberlist owns it), without telling
   * anyone; idempotent. Call leave() first for a graceful exit. */
  stop(): void {
    if (this.runState === "stopped") return;
    this.runState = "stopped";
    this.prober.stop();
    this.gossipTimer?.cancel();
    this.pushPullTimer?.cancel();
    this.reconnectTimer?.cancel();
    this.rejoinTimer?.cancel();
    this.table.cancelTimers();
    this.queue.reset();
    this.transport.close();
  }

  /**
   * Full state exchange with each seed ("ip:port"; a bare IP takes our own port). Resolves
   * with the number of seeds reached; rejects (retryable) when none could be. Either way
   * the seeds are remembered: while this member knows nobody alive but itself it retries
   * them every rejoinIntervalMs, so members started in any order still meet.
   */
  join(seeds: readonly string[]): Promise<number> {
    this.mustRun("join");
    const own = this.transport.advertiseAddr;
    const ownPort = splitHostPort(own).port;
    const addrs = [
      ...new Set(seeds.map((s) => (splitHostPort(s).port === undefined ? `${s}:${ownPort}` : s))),
    ].filter((a) => a !== own);
    this.seeds = addrs;
    if (addrs.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      let pending = addrs.length;
      let reached = 0;
      const errors: string[] = [];
      for (const addr of addrs) {
        this.pushPull(addr, true, (err) => {
          if (err === undefined) reached++;
          else errors.push(`${addr}: ${err.message}`);
          if (--pending > 0) return;
          if (reached > 0) resolve(reached);
          else
            reject(
              new SwarmnetError(ErrorCode.Unavailable, `gossip: no seed reachable (${errors.join("; ")})`, {
                retryable: true,
              }),
            );
        });
      }
    });
  }

  /**
   * Leaves gracefully: broadcasts our own "left" and waits until it has been sent its full
   * retransmit count (or `timeoutMs`). Resolves true when it was, false on timeout. Keep
   * the member running until then; stop() afterwards.
   */
  leave(timeoutMs: number): Promise<boolean> {
    if (this.runState !== "running" || this.table.leaving) return Promise.resolve(this.table.leaving);
    const others = this.table.liveCount() > 1;
    this.table.leaving = true;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (sent: boolean): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        resolve(sent);
      };
      const timer = this.clock.setTimeout(() => settle(false), timeoutMs);
      const local = this.table.local;
      this.table.deadNode({ incarnation: local.incarnation, node: local.name, from: local.name }, settle);
      if (!others) settle(true);
    });
  }

  // ---------------------------------------------------------------- queries

  /** Every member we know (ourselves included; dead and left ones until reaped). */
  members(): Member[] {
    return this.table.all().map(toMember);
  }

  member(name: string): Member | undefined {
    const rec = this.table.get(name);
    return rec === undefined ? undefined : toMember(rec);
  }

  /** A member's state without building a Member (hot paths). */
  memberState(name: string): MemberState | undefined {
    return this.table.get(name)?.state;
  }

  /** A member's "ip:port". */
  memberAddress(name: string): string | undefined {
    return this.table.get(name)?.addr;
  }

  get localName(): string {
    return this.table.local.name;
  }

  /** The largest single encoded message a packet can carry (compound framing included). */
  get maxMessageCost(): number {
    return this.compoundBudget();
  }

  get localMember(): Member {
    return toMember(this.table.local);
  }

  /** Alive + suspect members, ourselves included. */
  get liveMembers(): number {
    return this.table.liveCount();
  }

  /** Publishes new metadata (a new incarnation carries it to everyone). */
  setMeta(meta: Uint8Array): void {
    this.table.setLocalMeta(Uint8Array.from(checkMeta(meta)));
  }

  on<K extends keyof MemberlistEvents>(event: K, fn: MemberlistEvents[K]): () => void {
    return this.emitter.on(event, fn);
  }

  metrics(): GossipMetrics {
    return snapshotMetrics(this.counters, {
      membersByState: this.table.stateCounts(),
      healthScore: this.awareness.healthScore,
      broadcastQueueDepth: this.queue.depth + (this.delegate?.pendingBroadcasts() ?? 0),
    });
  }

  /** Lifeguard's local health score: 0 is healthy, up to awarenessMaxMultiplier − 1. */
  get healthScore(): number {
    return this.awareness.healthScore;
  }

  // ---------------------------------------------------------------- for NetworkDB and the simulator

  /** Installs the layer above (one at most). */
  setDelegate(delegate: MemberlistDelegate): void {
    if (this.delegate !== undefined && this.delegate !== delegate) {
      throw new SwarmnetError(ErrorCode.AlreadyExists, "gossip: a delegate is already installed");
    }
    this.delegate = delegate;
  }

  /** Sends encoded `user` messages to a member's address, with broadcasts piggy-backed. */
  sendUserMessages(addr: string, messages: Uint8Array[]): void {
    if (this.runState !== "running") return;
    this.send(addr, messages);
  }

  /** A `user` request over a stream; `cb(undefined, err)` on any failure. */
  requestUser(
    addr: string,
    payload: Uint8Array,
    timeoutMs: number,
    cb: (reply: Uint8Array | undefined, err: Error | undefined) => void,
  ): void {
    this.streamRequest(addr, encodeMessage({ kind: "user", user: payload }), timeoutMs, (reply, err) => {
      if (reply?.kind === "user") cb(reply.user, undefined);
      else
        cb(
          undefined,
          err ?? new SwarmnetError(ErrorCode.MalformedMessage, "gossip: unexpected stream reply"),
        );
    });
  }

  /**
   * Learns `members` without broadcasting, as if from a push-pull: the simulator uses it
   * to start a benchmark from an already converged cluster. Pass one shared list to many
   * members (it is not copied, its strings are shared), which keeps thousands of simulated
   * views affordable.
   */
  adoptMembers(members: readonly PushPullNode[]): void {
    this.table.mergeRemote(members, { quiet: true });
    // The push-pull phase was drawn for a cluster of one; draw it again for this size.
    if (this.runState === "running") {
      this.pushPullTimer?.cancel();
      this.schedulePushPull(true);
    }
  }

  /** Our entry as `adoptMembers` takes it. */
  get localEntry(): PushPullNode {
    const l = this.table.local;
    return { name: l.name, addr: l.addr, meta: l.meta, incarnation: l.incarnation, state: l.state };
  }

  // ---------------------------------------------------------------- sending

  private compoundBudget(): number {
    const budget = this.config.packetBudgetBytes;
    return budget - packetOverhead(this.sealer, budget);
  }

  /** One packet: `messages`, then broadcasts up to the budget. */
  private send(addr: string, messages: readonly Uint8Array[]): void {
    const parts = this.parts;
    parts.length = 0;
    let used = 0;
    for (const m of messages) {
      parts.push(m);
      used += compoundEntryCost(m.length);
    }
    const budget = this.compoundBudget();
    if (used < budget) used += this.queue.take(budget - used, parts);
    if (this.delegate !== undefined && used < budget) this.delegate.takeBroadcasts(budget - used, parts);
    this.transmit(addr, parts);
    parts.length = 0;
  }

  private transmit(addr: string, parts: readonly Uint8Array[]): void {
    const packet = sealPacket(this.sealer, parts);
    this.counters.packetsOut++;
    this.counters.bytesOut += packet.length;
    this.transport.sendPacket(addr, packet);
  }

  private gossip(): void {
    if (this.runState !== "running") return;
    if (this.queue.depth === 0 && (this.delegate?.pendingBroadcasts() ?? 0) === 0) return;
    const now = this.clock.now();
    const deadWindow = this.config.gossipToTheDeadMs;
    const targets = this.targets;
    targets.length = 0;
    this.table.randomMembers(
      this.config.gossipNodes,
      (m) => m.state === "alive" || m.state === "suspect" || now - m.stateChangeMs < deadWindow,
      targets,
    );
    const budget = this.compoundBudget();
    const parts = this.parts;
    for (const t of targets) {
      parts.length = 0;
      let used = this.queue.take(budget, parts);
      if (this.delegate !== undefined && used < budget)
        used += this.delegate.takeBroadcasts(budget - used, parts);
      if (parts.length === 0) break;
      this.transmit(t.addr, parts);
    }
    parts.length = 0;
    targets.length = 0;
  }

  private streamRequest(
    addr: string,
    message: Uint8Array,
    timeoutMs: number,
    cb: (reply: GossipMessage | undefined, err: Error | undefined) => void,
  ): void {
    const data = sealPacket(this.sealer, [message]);
    this.counters.streamsOut++;
    this.counters.bytesOut += data.length;
    this.transport.request(addr, data, timeoutMs, (err, reply) => {
      if (this.runState !== "running") return;
      if (err !== undefined || reply === undefined) {
        this.counters.streamErrors++;
        cb(undefined, err ?? new SwarmnetError(ErrorCode.Unavailable, `gossip: no reply from ${addr}`));
        return;
      }
      this.counters.bytesIn += reply.length;
      const opened = openPacket(this.streamOpener, reply);
      if (!opened.ok) {
        this.counters.dropped[opened.reason]++;
        cb(
          undefined,
          new SwarmnetError(
            ErrorCode.MalformedMessage,
            `gossip: reply from ${addr} dropped (${opened.reason})`,
          ),
        );
        return;
      }
      const m = opened.messages[0] as GossipMessage;
      if (m.kind === "error") {
        cb(undefined, new SwarmnetError(ErrorCode.Unavailable, `gossip: ${addr} refused: ${m.error}`));
        return;
      }
      cb(m, undefined);
    });
  }

  private pushPull(addr: string, join: boolean, done: (err: Error | undefined) => void): void {
    this.counters.pushPulls++;
    const msg = encodeMessage({
      kind: "pushPull",
      pushPull: {
        join,
        nodes: this.table.pushPullNodes(),
        userState: this.delegate?.localState(join) ?? EMPTY_BYTES,
        sourceNode: this.config.nodeName,
      },
    });
    this.streamRequest(addr, msg, this.config.streamTimeoutMs, (reply, err) => {
      if (reply === undefined) return done(err);
      if (reply.kind !== "pushPull") {
        return done(
          new SwarmnetError(
            ErrorCode.MalformedMessage,
            `gossip: ${addr} answered a push-pull with ${reply.kind}`,
          ),
        );
      }
      const incarnation = this.table.local.incarnation;
      this.table.mergeRemote(reply.pushPull.nodes);
      this.delegate?.mergeRemoteState(reply.pushPull.userState, join);
      // The peer thought us dead or suspect and we refuted: tell it first, directly (its side
      // of a healed partition hears it from there).
      if (this.table.local.incarnation !== incarnation) {
        this.send(addr, [encodeMessage({ kind: "alive", alive: this.table.localAlive() })]);
      }
      done(undefined);
    });
  }

  private rejoinIfAlone(): void {
    if (this.runState !== "running" || this.table.leaving || this.table.liveCount() > 1) return;
    for (const addr of this.seeds) {
      this.pushPull(addr, true, (err) => {
        if (err === undefined) this.log.info({ seed: addr }, "joined the cluster through a seed on retry");
      });
    }
  }

  /**
   * Serf's reconnect: with probability failed/alive, push-pull with one random failed
   * member. This is what re-merges the two halves of a healed partition, which by then
   * have reaped each other from their member lists.
   */
  private reconnect(): void {
    if (this.runState !== "running" || this.table.failedCount === 0) return;
    const alive = Math.max(1, this.table.stateCounts().alive);
    if (this.random.next() > this.table.failedCount / alive) return;
    const target = this.table.randomFailed(this.config.reconnectTimeoutMs);
    if (target === undefined) return;
    this.pushPull(target.addr, true, (err) => {
      if (err !== undefined) this.log.debug({ member: target.name, err: err.message }, "reconnect failed");
    });
  }

  private schedulePushPull(first: boolean): void {
    if (this.config.pushPullIntervalMs === 0 || this.runState !== "running") return;
    const interval = pushPullScaleMs(this.config.pushPullIntervalMs, this.table.liveCount());
    const delay = first ? randomInt(this.random, interval) : interval;
    this.pushPullTimer = this.clock.setTimeout(() => {
      const peer = this.table.randomMembers(1, (m) => m.state === "alive", [])[0];
      if (peer !== undefined) {
        this.pushPull(peer.addr, false, (err) => {
          if (err !== undefined) this.log.debug({ peer: peer.name, err: err.message }, "push-pull failed");
        });
      }
      this.schedulePushPull(false);
    }, delay);
  }

  // ---------------------------------------------------------------- receiving

  private onPacket(data: Uint8Array, from: string): void {
    if (this.runState !== "running") return;
    this.counters.packetsIn++;
    this.counters.bytesIn += data.length;
    const opened = openPacket(this.packetOpener, data);
    if (!opened.ok) {
      this.counters.dropped[opened.reason]++;
      return;
    }
    // State first, so an ack we send below already carries what this packet made us say.
    let probes = false;
    for (const m of opened.messages) {
      switch (m.kind) {
        case "alive":
          this.table.aliveNode(m.alive);
          break;
        case "suspect":
          this.table.suspectNode(m.suspect);
          break;
        case "dead":
          this.table.deadNode(m.dead);
          break;
        case "ack":
          this.prober.onAck(m.ack);
          break;
        case "nack":
          this.prober.onNack(m.nack);
          break;
        case "user":
          this.delegate?.onUserMessage(m.user, from);
          break;
        case "ping":
        case "indirectPing":
          probes = true;
          break;
        case "pushPull":
        case "error":
          this.counters.dropped.unexpected++;
          break;
      }
    }
    if (!probes) return;
    for (const m of opened.messages) {
      if (m.kind === "ping") this.prober.onPing(m.ping, from);
      else if (m.kind === "indirectPing") this.prober.onIndirectPing(m.indirectPing, from);
    }
  }

  private onStream(data: Uint8Array, from: string, reply: (data: Uint8Array) => void): void {
    if (this.runState !== "running") return;
    this.counters.streamsIn++;
    this.counters.bytesIn += data.length;
    const opened = openPacket(this.streamOpener, data);
    if (!opened.ok) {
      // No answer: an unauthenticated peer learns nothing, and times out.
      this.counters.dropped[opened.reason]++;
      return;
    }
    const answer = (m: GossipMessage | Uint8Array): void => {
      const out = sealPacket(this.sealer, [m instanceof Uint8Array ? m : encodeMessage(m)]);
      this.counters.bytesOut += out.length;
      reply(out);
    };
    const m = opened.messages[0] as GossipMessage;
    switch (m.kind) {
      case "pushPull": {
        // Merge first, so the reply carries any refutation the peer's view provoked.
        const pp = m.pushPull;
        this.table.mergeRemote(pp.nodes);
        this.delegate?.mergeRemoteState(pp.userState, pp.join);
        answer({
          kind: "pushPull",
          pushPull: {
            join: false,
            nodes: this.table.pushPullNodes(),
            userState: this.delegate?.localState(pp.join) ?? EMPTY_BYTES,
            sourceNode: this.config.nodeName,
          },
        });
        break;
      }
      case "ping":
        if (m.ping.node !== "" && m.ping.node !== this.config.nodeName) {
          answer({ kind: "error", error: `not ${m.ping.node}` });
        } else {
          answer(ackFor(m.ping.seq));
        }
        break;
      case "user":
        if (this.delegate === undefined) answer({ kind: "error", error: "no user handler" });
        else this.delegate.onUserRequest(m.user, from, (payload) => answer({ kind: "user", user: payload }));
        break;
      default:
        this.counters.dropped.unexpected++;
        answer({ kind: "error", error: `unexpected ${m.kind}` });
    }
  }

  private onConflict(existing: MemberRecord, claim: AliveMsg): void {
    this.counters.conflicts++;
    this.log.warn(
      { member: existing.name, knownAddr: existing.addr, claimAddr: claim.addr },
      "two addresses claim one member name; the newcomer is refused",
    );
    this.emitter.emit("conflict", { existing: toMember(existing), claimAddr: claim.addr });
  }

  private mustRun(what: string): void {
    if (this.runState !== "running") {
      throw new SwarmnetError(ErrorCode.Unavailable, `gossip: cannot ${what}: the member is not running`);
    }
  }
}

/** Metadata rides in every alive message and push-pull entry: keep it small (memberlist's 512). */
export const META_MAX_BYTES = 512;

function checkMeta(meta: Uint8Array): Uint8Array {
  if (meta.length > META_MAX_BYTES) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `gossip: member metadata is ${meta.length} bytes; at most ${META_MAX_BYTES} fit`,
    );
  }
  return meta;
}

function toMember(rec: MemberRecord): Member {
  const { host, port } = splitHostPort(rec.addr);
  return {
    name: rec.name,
    addr: host,
    port: port ?? 0,
    state: rec.state,
    incarnation: rec.incarnation,
    meta: rec.meta,
  };
}

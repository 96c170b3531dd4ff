/**
 * SWIM failure detection with Lifeguard, one probe per (health-scaled) interval:
 *
 *   t = 0         ping the next member in the round-robin order (if it is suspected, the
 *                 suspicion rides along: Lifeguard's buddy system lets it refute at once)
 *   t = timeout   no ack: ask `indirectChecks` random alive members to ping it for us
 *                 (each answers with the target's ack or, Lifeguard, a nack if it heard
 *                 nothing), and try one ping over a stream (TCP fallback)
 *   t = interval  still no ack: suspect it.
 *
 * Whom to probe: the slotted schedule (default; every live member probed once per round,
 * rounds aligned by the wall clock) or memberlist's shuffled round-robin; both in
 * member-table.ts. Timeout and interval are multiplied by (health score + 1). The score falls by one on
 * every ack; on a failure it rises by the number of nacks that did not come back (a
 * helper that did not even answer means *our* network is the likely problem), or by
 * one when nobody could be asked.
 *
 * This file also answers others: a ping for us gets an ack; an indirect ping is relayed
 * with a fresh sequence number and its ack forwarded (or a nack sent after 80 % of our
 * probe timeout, early enough to reach the requester within its probe interval).
 */
import type { Clock, TimerHandle } from "../../common/clock.js";
import type { Awareness } from "./awareness.js";
import {
  encodeMessage,
  EMPTY_BYTES,
  type AckMsg,
  type GossipMessage,
  type IndirectPingMsg,
  type NackMsg,
  type PingMsg,
} from "./codec.js";
import type { GossipConfig } from "./config.js";
import type { MemberRecord, MemberTable } from "./member-table.js";
import type { GossipCounters } from "./metrics.js";
import { randomInt, type Random } from "./random.js";

export interface ProbeHost {
  readonly cfg: GossipConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly table: MemberTable;
  readonly awareness: Awareness;
  readonly counters: GossipCounters;
  readonly localAddr: string;
  /** Wall-clock milliseconds (Date.now in production): aligns probe rounds across members. */
  wallClock(): number;
  /** Sends encoded messages to `addr` in one packet, filling it up with broadcasts. */
  send(addr: string, messages: Uint8Array[]): void;
  /** One message over a stream; `cb(undefined)` on any failure. */
  streamRequest(
    addr: string,
    message: Uint8Array,
    timeoutMs: number,
    cb: (reply: GossipMessage | undefined) => void,
  ): void;
}

/** Part of the probe timeout after which a helper that heard nothing sends its nack. */
const NACK_FRACTION = 0.8;

interface Waiter {
  onAck(): void;
  onNack(): void;
  timers: TimerHandle[];
}

interface ProbeRun {
  target: MemberRecord;
  incarnation: number;
  seq: number;
  done: boolean;
  nacks: number;
  expectedNacks: number;
  intervalMs: number;
  timeoutMs: number;
}

export class Prober {
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private tickTimer: TimerHandle | undefined;
  private running = false;
  private lastRound = -Infinity;
  private readonly helpers: MemberRecord[] = [];

  constructor(private readonly host: ProbeHost) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    // A random phase, so members started together do not probe in lockstep.
    const phase = randomInt(this.host.random, this.host.cfg.probeIntervalMs);
    this.tickTimer = this.host.clock.setTimeout(() => this.tick(), phase);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.tickTimer?.cancel();
    this.tickTimer = undefined;
    for (const w of this.waiters.values()) for (const t of w.timers) t.cancel();
    this.waiters.clear();
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private tick(): void {
    if (!this.running) return;
    const h = this.host;
    const intervalMs = h.awareness.scaleTimeout(h.cfg.probeIntervalMs);
    this.tickTimer = h.clock.setTimeout(() => this.tick(), intervalMs);
    const target =
      h.cfg.probeSchedule === "slotted"
        ? h.table.slottedProbeTarget(this.nextRound())
        : h.table.nextProbeTarget();
    if (target !== undefined) this.probe(target, intervalMs);
  }

  /** The probe round (wall time / probe interval), never the same twice. */
  private nextRound(): number {
    let round = Math.floor(this.host.wallClock() / this.host.cfg.probeIntervalMs);
    if (round <= this.lastRound) round = this.lastRound + 1;
    this.lastRound = round;
    return round;
  }

  private probe(target: MemberRecord, intervalMs: number): void {
    const h = this.host;
    h.counters.probes++;
    const run: ProbeRun = {
      target,
      incarnation: target.incarnation,
      seq: this.nextSeq(),
      done: false,
      nacks: 0,
      expectedNacks: 0,
      intervalMs,
      timeoutMs: h.awareness.scaleTimeout(h.cfg.probeTimeoutMs),
    };
    const waiter: Waiter = {
      onAck: () => this.acked(run, waiter),
      onNack: () => {
        run.nacks++;
      },
      timers: [],
    };
    this.waiters.set(run.seq, waiter);
    const local = h.table.local;
    const messages = [
      encodeMessage({
        kind: "ping",
        ping: { seq: run.seq, node: target.name, sourceNode: local.name, sourceAddr: h.localAddr },
      }),
    ];
    if (target.state === "suspect") {
      messages.push(
        encodeMessage({
          kind: "suspect",
          suspect: { incarnation: target.incarnation, node: target.name, from: local.name },
        }),
      );
    }
    h.send(target.addr, messages);
    waiter.timers.push(h.clock.setTimeout(() => this.indirect(run, waiter), run.timeoutMs));
    waiter.timers.push(h.clock.setTimeout(() => this.failed(run), intervalMs));
  }

  private acked(run: ProbeRun, waiter: Waiter): void {
    if (run.done) return;
    run.done = true;
    for (const t of waiter.timers) t.cancel();
    this.waiters.delete(run.seq);
    this.host.awareness.applyDelta(-1);
  }

  private indirect(run: ProbeRun, waiter: Waiter): void {
    if (run.done) return;
    const h = this.host;
    const local = h.table.local;
    const target = run.target;
    h.counters.indirectProbes++;
    const helpers = this.helpers;
    helpers.length = 0;
    h.table.randomMembers(h.cfg.indirectChecks, (m) => m !== target && m.state === "alive", helpers);
    if (helpers.length > 0) {
      const req = encodeMessage({
        kind: "indirectPing",
        indirectPing: {
          seq: run.seq,
          node: target.name,
          nodeAddr: target.addr,
          nack: true,
          sourceNode: local.name,
          sourceAddr: h.localAddr,
        },
      });
      for (const helper of helpers) h.send(helper.addr, [req]);
      run.expectedNacks = helpers.length;
    }
    helpers.length = 0;
    if (h.cfg.tcpPingFallback) {
      h.counters.tcpFallbackProbes++;
      const ping = encodeMessage({
        kind: "ping",
        ping: { seq: run.seq, node: target.name, sourceNode: local.name, sourceAddr: h.localAddr },
      });
      const remaining = Math.max(1, run.intervalMs - run.timeoutMs);
      h.streamRequest(target.addr, ping, remaining, (reply) => {
        if (reply?.kind === "ack" && reply.ack.seq === run.seq) waiter.onAck();
      });
    }
  }

  private failed(run: ProbeRun): void {
    if (run.done) return;
    run.done = true;
    const h = this.host;
    this.waiters.delete(run.seq);
    h.counters.probeFailures++;
    const missing = run.expectedNacks > 0 ? Math.max(0, run.expectedNacks - run.nacks) : 1;
    h.awareness.applyDelta(missing);
    h.table.suspectNode({ incarnation: run.incarnation, node: run.target.name, from: h.table.local.name });
  }

  // ---------------------------------------------------------------- answering

  onPing(ping: PingMsg, from: string): void {
    const h = this.host;
    // A ping meant for another name: the address was reused; do not vouch for it.
    if (ping.node !== "" && ping.node !== h.table.local.name) {
      h.counters.dropped.unexpected++;
      return;
    }
    h.send(ping.sourceAddr !== "" ? ping.sourceAddr : from, [ackFor(ping.seq)]);
  }

  onIndirectPing(req: IndirectPingMsg, from: string): void {
    const h = this.host;
    const replyTo = req.sourceAddr !== "" ? req.sourceAddr : from;
    const seq = this.nextSeq();
    const waiter: Waiter = {
      onAck: () => {
        for (const t of waiter.timers) t.cancel();
        this.waiters.delete(seq);
        h.send(replyTo, [ackFor(req.seq)]);
      },
      onNack: () => {},
      timers: [],
    };
    this.waiters.set(seq, waiter);
    if (req.nack) {
      // Lifeguard: nack at 80 % of the probe timeout, so it reaches the requester before its
      // probe interval ends (it asked us at its own timeout) and counts as a sign of life.
      waiter.timers.push(
        h.clock.setTimeout(
          () => h.send(replyTo, [encodeMessage({ kind: "nack", nack: { seq: req.seq } })]),
          NACK_FRACTION * h.cfg.probeTimeoutMs,
        ),
      );
    }
    waiter.timers.push(h.clock.setTimeout(() => this.waiters.delete(seq), h.cfg.probeTimeoutMs));
    const local = h.table.local;
    h.send(req.nodeAddr, [
      encodeMessage({
        kind: "ping",
        ping: { seq, node: req.node, sourceNode: local.name, sourceAddr: h.localAddr },
      }),
    ]);
  }

  onAck(ack: AckMsg): void {
    this.waiters.get(ack.seq)?.onAck();
  }

  onNack(nack: NackMsg): void {
    this.waiters.get(nack.seq)?.onNack();
  }
}

export function ackFor(seq: number): Uint8Array {
  return encodeMessage({ kind: "ack", ack: { seq, payload: EMPTY_BYTES } });
}

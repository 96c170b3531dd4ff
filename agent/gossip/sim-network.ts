/**
 * An in-memory network on a virtual clock: product code, because the tests and the gossip
 * benchmark (thousands of members, minutes of simulated time, seconds of wall time) run
 * on it. Every member gets a `SimTransport` (packets and streams) and a per-node clock.
 *
 * What it models:
 *   - per-link loss, latency and jitter (a default for all links, overrides per pair);
 *     a datagram is lost with probability `loss` and otherwise arrives after
 *     latency ± jitter (uniform), so packets may reorder as UDP's may;
 *   - streams are TCP-like: never lost, but each direction pays one retransmission
 *     timeout (`tcpRtoMs`) for every segment the link drops, and a stream to a crashed
 *     member is refused after one round trip while one across a partition times out;
 *   - partitions: named groups; packets and streams cross only within a group;
 *   - pause (SIGSTOP): the member's timers and deliveries queue up and run when it is
 *     resumed, in order, as a stopped process finds its socket buffer and overdue timers;
 *     up to `pausedBufferPackets` datagrams are kept, later ones are dropped as a full
 *     socket buffer would;
 *   - crash (kill -9): everything addressed to it, and every timer it set, vanishes.
 *     `transport(addr)` again brings a fresh process up on the same address.
 *
 * Per packet the cost is one closure and one heap entry on the shared VirtualClock; a
 * per-pair link table is consulted only when overrides exist.
 *
 * Long on purpose: a whole simulated network (latency, loss, partitions, streams) on a
 * virtual clock, behind the same Transport interface as the real one.
 */
import { VirtualClock, type Clock, type TimerHandle } from "../../common/clock.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { seededRandom, type Random } from "./random.js";
import type { RequestCallback, Transport, TransportHandlers } from "./transport.js";

export interface LinkParams {
  /** Probability in [0, 1] that a datagram (or a TCP segment, costing one RTO) is lost. */
  loss: number;
  /** One-way delay in ms. */
  latencyMs: number;
  /** Uniform ± variation of the delay in ms. */
  jitterMs: number;
}

export interface SimNetworkOptions {
  clock?: VirtualClock;
  /** Seed of the network's own randomness (loss, jitter). */
  seed?: number;
  link?: Partial<LinkParams>;
  /** TCP retransmission timeout paid per lost segment on a stream. */
  tcpRtoMs?: number;
  /** Datagrams a paused member's socket buffer holds. */
  pausedBufferPackets?: number;
}

export interface SimStats {
  packetsSent: number;
  packetsDelivered: number;
  packetsLost: number;
  bytesSent: number;
  streamsOpened: number;
}

type NodeState = "up" | "paused" | "crashed";

interface SimNode {
  addr: string;
  /** Bumped when the address is reused by a new process: old timers and packets die. */
  generation: number;
  state: NodeState;
  group: number;
  handlers: TransportHandlers | undefined;
  deferred: (() => void)[];
  deferredPackets: number;
  bytesSent: number;
}

const DEFAULT_LINK: LinkParams = { loss: 0, latencyMs: 1, jitterMs: 0.5 };

export class SimNetwork {
  readonly clock: VirtualClock;
  readonly stats: SimStats = {
    packetsSent: 0,
    packetsDelivered: 0,
    packetsLost: 0,
    bytesSent: 0,
    streamsOpened: 0,
  };
  private readonly random: Random;
  private readonly nodes = new Map<string, SimNode>();
  private readonly links = new Map<string, LinkParams>();
  private defaultLink: LinkParams;
  private readonly tcpRtoMs: number;
  private readonly pausedBufferPackets: number;

  constructor(opts: SimNetworkOptions = {}) {
    this.clock = opts.clock ?? new VirtualClock();
    this.random = seededRandom(opts.seed ?? 1);
    this.defaultLink = checkLink({ ...DEFAULT_LINK, ...opts.link });
    this.tcpRtoMs = opts.tcpRtoMs ?? 200;
    this.pausedBufferPackets = opts.pausedBufferPackets ?? 1000;
  }

  /**
   * The transport of the member at `addr` ("ip:port"). Calling it again after a crash
   * starts a new process there; calling it for a running member is an error.
   */
  transport(addr: string): SimTransport {
    let node = this.nodes.get(addr);
    if (node !== undefined && node.state !== "crashed" && node.handlers !== undefined) {
      throw new SwarmnetError(ErrorCode.InUse, `sim: ${addr} is already in use`);
    }
    if (node === undefined) {
      node = {
        addr,
        generation: 0,
        state: "up",
        group: 0,
        handlers: undefined,
        deferred: [],
        deferredPackets: 0,
        bytesSent: 0,
      };
      this.nodes.set(addr, node);
    } else if (node.state === "crashed") {
      node.generation++;
      node.state = "up";
      node.handlers = undefined;
      node.deferred = [];
      node.deferredPackets = 0;
    }
    return new SimTransport(this, node, node.generation);
  }

  /** A clock for the member at `addr` whose timers stop while it is paused or crashed. */
  nodeClock(addr: string): Clock {
    const node = this.nodes.get(addr);
    if (node === undefined) throw new SwarmnetError(ErrorCode.NotFound, `sim: no member at ${addr}`);
    return new NodeClock(this, node, node.generation);
  }

  /** Sets the default for every link without an override. */
  setDefaultLink(params: Partial<LinkParams>): void {
    this.defaultLink = checkLink({ ...this.defaultLink, ...params });
  }

  /** Overrides the link from `a` to `b` (and back, unless `oneWay`). */
  setLink(a: string, b: string, params: Partial<LinkParams>, oneWay = false): void {
    const base = this.links.get(`${a}|${b}`) ?? this.defaultLink;
    const p = checkLink({ ...base, ...params });
    this.links.set(`${a}|${b}`, p);
    if (!oneWay) this.links.set(`${b}|${a}`, p);
  }

  /** Splits the network: members of different groups cannot reach each other. Unlisted
   * members form one more group of their own. */
  partition(groups: readonly (readonly string[])[]): void {
    for (const n of this.nodes.values()) n.group = 0;
    groups.forEach((g, i) => {
      for (const addr of g) {
        const n = this.nodes.get(addr);
        if (n !== undefined) n.group = i + 1;
      }
    });
  }

  heal(): void {
    for (const n of this.nodes.values()) n.group = 0;
  }

  /** Stops the member as SIGSTOP would. */
  pause(addr: string): void {
    const n = this.mustGet(addr);
    if (n.state === "up") n.state = "paused";
  }

  /** Resumes a paused member; its queued timers and packets run now, in order. */
  resume(addr: string): void {
    const n = this.mustGet(addr);
    if (n.state !== "paused") return;
    n.state = "up";
    const queued = n.deferred;
    n.deferred = [];
    n.deferredPackets = 0;
    for (const fn of queued) {
      if (n.state !== "up") {
        // Paused or crashed again while catching up: keep the rest queued (or drop them).
        if (n.state === "paused") n.deferred.push(fn);
        continue;
      }
      fn();
    }
  }

  /** Kills the member as kill -9 would. */
  crash(addr: string): void {
    const n = this.mustGet(addr);
    n.state = "crashed";
    n.handlers = undefined;
    n.deferred = [];
    n.deferredPackets = 0;
  }

  isUp(addr: string): boolean {
    return this.nodes.get(addr)?.state === "up";
  }

  /** Payload bytes the member at `addr` has sent (packets and stream frames). */
  bytesSentBy(addr: string): number {
    return this.nodes.get(addr)?.bytesSent ?? 0;
  }

  /** Advances virtual time, running everything that falls due. */
  run(ms: number): void {
    this.clock.advance(ms);
  }

  // -------------------------------------------------------------- internals

  private mustGet(addr: string): SimNode {
    const n = this.nodes.get(addr);
    if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `sim: no member at ${addr}`);
    return n;
  }

  /** Runs `fn` as the member (generation `gen`) would: now, later (paused) or never. */
  runAs(node: SimNode, gen: number, fn: () => void, isPacket: boolean): void {
    if (node.generation !== gen || node.state === "crashed") return;
    if (node.state === "paused") {
      if (isPacket) {
        if (node.deferredPackets >= this.pausedBufferPackets) {
          this.stats.packetsLost++;
          return;
        }
        node.deferredPackets++;
      }
      node.deferred.push(fn);
      return;
    }
    fn();
  }

  private link(from: SimNode, to: SimNode): LinkParams {
    if (this.links.size === 0) return this.defaultLink;
    return this.links.get(`${from.addr}|${to.addr}`) ?? this.defaultLink;
  }

  private delay(link: LinkParams): number {
    if (link.jitterMs === 0) return link.latencyMs;
    return Math.max(0, link.latencyMs + link.jitterMs * (2 * this.random.next() - 1));
  }

  sendPacket(from: SimNode, gen: number, to: string, data: Uint8Array): void {
    if (from.generation !== gen || from.state !== "up") return;
    this.stats.packetsSent++;
    this.stats.bytesSent += data.length;
    from.bytesSent += data.length;
    const dst = this.nodes.get(to);
    if (dst === undefined || dst.state === "crashed" || dst.group !== from.group) {
      this.stats.packetsLost++;
      return;
    }
    const link = this.link(from, dst);
    if (link.loss > 0 && this.random.next() < link.loss) {
      this.stats.packetsLost++;
      return;
    }
    const dstGen = dst.generation;
    const src = from.addr;
    this.clock.setTimeout(() => {
      if (dst.group !== from.group) {
        this.stats.packetsLost++; // partitioned while in flight
        return;
      }
      this.runAs(
        dst,
        dstGen,
        () => {
          this.stats.packetsDelivered++;
          dst.handlers?.packet(data, src);
        },
        true,
      );
    }, this.delay(link));
  }

  /** One direction of a stream: latency plus one RTO per lost segment (at most 6). */
  private streamDelay(link: LinkParams): number {
    let d = this.delay(link);
    for (let i = 0; i < 6 && link.loss > 0 && this.random.next() < link.loss; i++) d += this.tcpRtoMs << i;
    return d;
  }

  request(
    from: SimNode,
    gen: number,
    clock: Clock,
    to: string,
    data: Uint8Array,
    timeoutMs: number,
    done: RequestCallback,
  ): void {
    let finished = false;
    const finish = (err: Error | undefined, reply: Uint8Array | undefined): void => {
      if (finished) return;
      finished = true;
      timer.cancel();
      done(err, reply);
    };
    const timer: TimerHandle = clock.setTimeout(
      () =>
        finish(
          new SwarmnetError(ErrorCode.Timeout, `sim: stream to ${to} timed out`, { retryable: true }),
          undefined,
        ),
      timeoutMs,
    );
    if (from.generation !== gen || from.state !== "up") return;
    this.stats.streamsOpened++;
    from.bytesSent += data.length;
    this.stats.bytesSent += data.length;
    const dst = this.nodes.get(to);
    const srcLink = dst === undefined ? this.defaultLink : this.link(from, dst);
    if (dst === undefined || dst.state === "crashed" || dst.handlers === undefined) {
      // Connection refused after one round trip (a live host, no listener).
      const rtt = 2 * this.delay(srcLink);
      clock.setTimeout(
        () =>
          finish(
            new SwarmnetError(ErrorCode.Unavailable, `sim: ${to} refused the stream`, { retryable: true }),
            undefined,
          ),
        rtt,
      );
      return;
    }
    if (dst.group !== from.group) return; // partitioned: the timeout fires
    const dstGen = dst.generation;
    const srcAddr = from.addr;
    this.clock.setTimeout(() => {
      if (dst.group !== from.group) return;
      this.runAs(
        dst,
        dstGen,
        () => {
          let replied = false;
          dst.handlers?.stream(data, srcAddr, (replyData) => {
            if (replied || dst.generation !== dstGen || dst.state === "crashed") return;
            replied = true;
            dst.bytesSent += replyData.length;
            this.stats.bytesSent += replyData.length;
            this.clock.setTimeout(
              () => {
                if (dst.group !== from.group) return;
                this.runAs(from, gen, () => finish(undefined, replyData), true);
              },
              this.streamDelay(this.link(dst, from)),
            );
          });
        },
        true,
      );
    }, this.streamDelay(srcLink));
  }

  attach(node: SimNode, gen: number, handlers: TransportHandlers): void {
    if (node.generation !== gen || node.state === "crashed") return;
    node.handlers = handlers;
  }

  detach(node: SimNode, gen: number): void {
    if (node.generation !== gen) return;
    node.handlers = undefined;
  }
}

/** A member's end of the simulated network. */
export class SimTransport implements Transport {
  readonly advertiseAddr: string;
  private readonly clock: Clock;

  constructor(
    private readonly sim: SimNetwork,
    private readonly node: SimNode,
    private readonly gen: number,
  ) {
    this.advertiseAddr = node.addr;
    this.clock = new NodeClock(sim, node, gen);
  }

  listen(handlers: TransportHandlers): void {
    this.sim.attach(this.node, this.gen, handlers);
  }

  sendPacket(to: string, data: Uint8Array): void {
    this.sim.sendPacket(this.node, this.gen, to, data);
  }

  request(to: string, data: Uint8Array, timeoutMs: number, done: RequestCallback): void {
    this.sim.request(this.node, this.gen, this.clock, to, data, timeoutMs, done);
  }

  close(): void {
    this.sim.detach(this.node, this.gen);
  }
}

/** Timers of one simulated member: held while it is paused, gone once it crashed. */
class NodeClock implements Clock {
  constructor(
    private readonly sim: SimNetwork,
    private readonly node: SimNode,
    private readonly gen: number,
  ) {}

  now(): number {
    return this.sim.clock.now();
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    let cancelled = false;
    const inner = this.sim.clock.setTimeout(() => {
      this.sim.runAs(this.node, this.gen, () => cancelled || fn(), false);
    }, delayMs);
    return {
      cancel: () => {
        cancelled = true;
        inner.cancel();
      },
    };
  }

  setInterval(fn: () => void, periodMs: number): TimerHandle {
    let cancelled = false;
    let queued = false; // a stopped process sees one overdue tick, not a burst
    const inner = this.sim.clock.setInterval(() => {
      if (queued) return;
      if (this.node.state === "paused") queued = true;
      this.sim.runAs(
        this.node,
        this.gen,
        () => {
          queued = false;
          if (!cancelled) fn();
        },
        false,
      );
    }, periodMs);
    return {
      cancel: () => {
        cancelled = true;
        inner.cancel();
      },
    };
  }
}

function checkLink(p: LinkParams): LinkParams {
  if (!(p.loss >= 0 && p.loss <= 1))
    throw new SwarmnetError(ErrorCode.InvalidArgument, `sim: loss must be in 0..1, got ${p.loss}`);
  if (!(p.latencyMs >= 0))
    throw new SwarmnetError(ErrorCode.InvalidArgument, `sim: latencyMs must be ≥ 0, got ${p.latencyMs}`);
  if (!(p.jitterMs >= 0))
    throw new SwarmnetError(ErrorCode.InvalidArgument, `sim: jitterMs must be ≥ 0, got ${p.jitterMs}`);
  return p;
}

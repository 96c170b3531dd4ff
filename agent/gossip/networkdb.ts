/**
 * NetworkDB: named tables per network (`endpoints`, `services`, …) replicated among the
 * members that joined that network, on top of Memberlist — after Docker's NetworkDB, with
 * its dead-owner behaviour fixed (entries are hidden, not deleted; networkdb-tables.ts).
 *
 * Two kinds of gossip:
 *   - network membership ("node X joined / left network N", Lamport-ordered per (X, N))
 *     goes to the whole cluster, piggy-backed on membership packets through the
 *     Memberlist delegate, and rides every push-pull — everyone must know who is in which
 *     network to know whom to gossip a table event to;
 *   - table events (put / delete with the owner's Lamport time) go only to members of the
 *     network: one transmit-limited queue per network, sent every gossipInterval to
 *     gossipNodes random alive members of it. A member outside the network never
 *     receives them, and drops (and counts) one that reaches it anyway. A member's own
 *     change is also pushed at once (the changes of one turn of the event loop together)
 *     to up to pushNodes members of the network: one hop instead of waiting for gossip
 *     rounds, which stay as the repair path (they also carry it; duplicates are not
 *     newer, so they are dropped without a rebroadcast).
 *
 * Anti-entropy: on joining a network, and every bulkSyncInterval per network, a full
 * exchange of the network's entries (tombstones and hidden ones included) with one random
 * member of it over a stream. When a dead owner comes back, a sync with it runs at once.
 * The first sync after joining is retried (and run with each member newly seen in the
 * network) until one answers: `awaitingFirstSync` tells a restarted agent when it knows
 * every endpoint and may remove what is missing.
 *
 * The owner is the authority on its entries: if a member hears of an entry "owned" by
 * itself that it does not hold (it restarted and lost it) or a newer version than its
 * own, it answers with its real state at a later Lamport time, which wins everywhere.
 *
 * Long on purpose: membership of networks, table events, anti-entropy and the owner's
 * authority are one protocol sharing one Lamport clock and one set of queues; the
 * tables themselves are networkdb-tables.ts, the wire networkdb-codec.ts.
 */
import type { Clock, TimerHandle } from "../../common/clock.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { BroadcastQueue } from "./broadcast-queue.js";
import { compoundEntryCost, EMPTY_BYTES, encodeMessage } from "./codec.js";
import { loadNetworkDbConfig, type NetworkDbConfig } from "./config.js";
import { Emitter } from "./events.js";
import { LamportClock } from "./lamport-clock.js";
import type { Member } from "./member-table.js";
import type { Memberlist, MemberlistDelegate } from "./memberlist.js";
import {
  decodeNetworkDbMessage,
  decodeNetworkDbState,
  encodeNetworkDbMessage,
  encodeNetworkDbState,
  type NetworkEvent,
  type TableEventMsg,
} from "./networkdb-codec.js";
import { isNewer, NetworkTables, type TableChange, type VisibleEntry } from "./networkdb-tables.js";
import { retransmitLimit } from "./protocol-math.js";
import { randomInt, type Random } from "./random.js";

export type { TableChange, VisibleEntry } from "./networkdb-tables.js";

export type TableEventHandler = (change: TableChange) => void;

export interface NetworkDbOptions {
  /** NetworkDbConfig fields; validated. */
  config?: Record<string, unknown>;
  logger?: Logger;
  /**
   * The member's Lamport clocks; durable ones (lamport-clock.ts) so that a restarted
   * member's own times start above its previous process's. Fresh ones from 0 when absent.
   */
  clocks?: { network: LamportClock; table: LamportClock };
}

export interface NetworkDbMetrics {
  networks: number;
  entries: number;
  tombstones: number;
  hidden: number;
  queueDepth: number;
  tableEventsIn: number;
  networkEventsIn: number;
  droppedNotInNetwork: number;
  droppedMalformed: number;
  bulkSyncs: number;
  bulkSyncErrors: number;
  reaped: number;
}

/** Names of networks, tables and keys: non-empty, printable, bounded. */
const NAME_MAX = 255;

export class NetworkDB {
  readonly config: NetworkDbConfig;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly log: Logger;
  private readonly tables: NetworkTables;
  private readonly netClock: LamportClock;
  private readonly tableClock: LamportClock;
  /** node → network → that node's latest join/leave event for it. */
  private readonly memberships = new Map<string, Map<string, NetworkEvent>>();
  /** network → nodes whose latest event is a join. */
  private readonly networkNodes = new Map<string, Set<string>>();
  private readonly clusterQueue: BroadcastQueue;
  private readonly netQueues = new Map<string, BroadcastQueue>();
  /** Networks joined here that no peer has sent its entries yet (see awaitingFirstSync). */
  private readonly unsynced = new Set<string>();
  /** Networks with a bulk sync under way. */
  private readonly syncing = new Set<string>();
  private readonly subscribers = new Map<string, Set<TableEventHandler>>();
  private readonly emitter: Emitter<{ error: (e: unknown) => void }>;
  private readonly unsubscribeMembership: (() => void)[] = [];
  private timers: TimerHandle[] = [];
  /** Own changes waiting for the direct push (pushSoon), per network. */
  private readonly fresh = new Map<string, Uint8Array[]>();
  private pushTimer: TimerHandle | undefined;
  private running = false;
  private readonly counters = {
    tableEventsIn: 0,
    networkEventsIn: 0,
    droppedNotInNetwork: 0,
    droppedMalformed: 0,
    bulkSyncs: 0,
    bulkSyncErrors: 0,
    reaped: 0,
  };

  constructor(
    private readonly ml: Memberlist,
    opts: NetworkDbOptions = {},
  ) {
    this.config = loadNetworkDbConfig(opts.config ?? {});
    this.netClock = opts.clocks?.network ?? new LamportClock();
    this.tableClock = opts.clocks?.table ?? new LamportClock();
    this.clock = ml.clock;
    this.random = ml.random;
    this.log = (opts.logger ?? silentLogger()).child({ component: "networkdb", node: ml.localName });
    this.emitter = new Emitter();
    this.tables = new NetworkTables((c) => this.deliver(c));
    this.clusterQueue = new BroadcastQueue(
      () => retransmitLimit(this.config.retransmitMult, this.ml.liveMembers),
      compoundEntryCost,
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /** Plugs into the Memberlist and starts gossiping tables; idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.ml.setDelegate(this.delegate);
    this.unsubscribeMembership.push(
      this.ml.on("dead", (m: Member) => this.tables.hideOwner(m.name, this.clock.now())),
      this.ml.on("join", (m: Member) => this.ownerBack(m.name)),
      this.ml.on("leave", (m: Member) => this.ownerLeft(m.name)),
    );
    const c = this.config;
    this.timers.push(this.every(c.gossipIntervalMs, () => this.gossip()));
    this.timers.push(this.every(c.reapIntervalMs, () => this.reap()));
    if (c.bulkSyncIntervalMs > 0) this.timers.push(this.every(c.bulkSyncIntervalMs, () => this.syncAll()));
  }

  /** Stops gossiping tables; entries stay readable. Idempotent. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.pushTimer?.cancel();
    this.pushTimer = undefined;
    this.fresh.clear();
    for (const u of this.unsubscribeMembership.splice(0)) u();
  }

  // ---------------------------------------------------------------- networks

  /** Joins a network: its tables start replicating here (a bulk sync runs at once). */
  joinNetwork(networkId: string): void {
    checkName("network", networkId);
    if (this.tables.hasNetwork(networkId)) return;
    this.tables.addNetwork(networkId);
    this.netQueues.set(
      networkId,
      new BroadcastQueue(
        () => retransmitLimit(this.config.retransmitMult, this.networkNodes.get(networkId)?.size ?? 1),
        compoundEntryCost,
      ),
    );
    this.announceMembership(networkId, "join");
    this.unsynced.add(networkId);
    if (!this.bulkSync(networkId, undefined)) {
      // Nobody known in it yet: their joins may still be on the way.
      this.clock.setTimeout(() => {
        if (this.running && this.tables.hasNetwork(networkId)) this.bulkSync(networkId, undefined);
      }, 5 * this.config.gossipIntervalMs);
    }
  }

  /** Leaves a network: its tables are dropped here (subscribers see deletes), and every
   * other member deletes the entries we owned in it. */
  leaveNetwork(networkId: string): void {
    if (!this.tables.hasNetwork(networkId)) return;
    this.netQueues.delete(networkId);
    this.unsynced.delete(networkId);
    this.tables.dropNetwork(networkId);
    this.announceMembership(networkId, "leave");
  }

  /** Networks this member joined. */
  networks(): string[] {
    return [...this.netQueues.keys()];
  }

  /**
   * Joined networks that other live members are in but none of them has sent us its
   * entries yet: until this is empty, a restarted node does not know every endpoint.
   */
  awaitingFirstSync(): string[] {
    return [...this.unsynced].filter((n) => this.peers(n, 1).length > 0);
  }

  /** Members whose latest word is that they are in `networkId` (ourselves included). */
  networkMembers(networkId: string): string[] {
    return [...(this.networkNodes.get(networkId) ?? [])];
  }

  // ---------------------------------------------------------------- tables

  /** Creates or replaces an entry, owned by this member. */
  put(networkId: string, table: string, key: string, value: Uint8Array): void {
    this.mustBeIn(networkId);
    checkName("table", table);
    checkName("key", key);
    const ev: TableEventMsg = {
      type: "put",
      ltime: 0,
      owner: this.ml.localName,
      networkId,
      table,
      key,
      value: Uint8Array.from(value),
    };
    const size = compoundEntryCost(wrap(ev).length);
    if (size > this.ml.maxMessageCost) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `networkdb: entry ${table}/${key} is ${size} bytes encoded; one gossip packet holds ${this.ml.maxMessageCost}`,
      );
    }
    ev.ltime = this.tableClock.increment();
    this.applyLocal(ev);
  }

  /** Deletes an entry this member owns (a tombstone replicates the delete). */
  delete(networkId: string, table: string, key: string): void {
    this.mustBeIn(networkId);
    const cur = this.tables.get(networkId, table, key);
    if (cur === undefined || cur.deleted) return;
    if (cur.owner !== this.ml.localName) {
      throw new SwarmnetError(
        ErrorCode.PermissionDenied,
        `networkdb: ${networkId}/${table}/${key} is owned by ${cur.owner}; only its owner deletes it`,
      );
    }
    this.applyLocal({
      type: "delete",
      ltime: this.tableClock.increment(),
      owner: this.ml.localName,
      networkId,
      table,
      key,
      value: EMPTY_BYTES,
    });
  }

  /** Visible entries of a table (owners alive, not deleted). */
  entries(networkId: string, table: string): VisibleEntry[] {
    return this.tables.entries(networkId, table);
  }

  /**
   * Calls `handler` with an "add" for every visible entry now (the snapshot), then with
   * every add / update / delete as it happens. Returns the unsubscribe function.
   */
  subscribe(networkId: string, table: string, handler: TableEventHandler): () => void {
    const k = subKey(networkId, table);
    let set = this.subscribers.get(k);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(k, set);
    }
    for (const e of this.tables.entries(networkId, table)) {
      this.call(handler, {
        type: "add",
        network: networkId,
        table,
        key: e.key,
        owner: e.owner,
        value: e.value,
      });
    }
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  /** Listener errors (a subscriber that threw) are reported here. */
  onError(fn: (err: unknown) => void): () => void {
    return this.emitter.on("error", fn);
  }

  metrics(): NetworkDbMetrics {
    let queueDepth = this.clusterQueue.depth;
    for (const q of this.netQueues.values()) queueDepth += q.depth;
    return { networks: this.netQueues.size, ...this.tables.counts(), queueDepth, ...this.counters };
  }

  /** Live entries per table name, summed over the networks this node is in. */
  entriesByTable(): Map<string, number> {
    return this.tables.entriesByTable();
  }

  // ---------------------------------------------------------------- internals

  private every(ms: number, fn: () => void): TimerHandle {
    // A random phase, so members started together do not act in lockstep.
    let interval: TimerHandle | undefined;
    const first = this.clock.setTimeout(
      () => {
        fn();
        interval = this.clock.setInterval(fn, ms);
      },
      randomInt(this.random, ms),
    );
    return {
      cancel: () => {
        first.cancel();
        interval?.cancel();
      },
    };
  }

  private mustBeIn(networkId: string): void {
    if (!this.tables.hasNetwork(networkId)) {
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `networkdb: this member has not joined network ${networkId}`,
      );
    }
  }

  private announceMembership(networkId: string, type: "join" | "leave"): void {
    const ev: NetworkEvent = { type, ltime: this.netClock.increment(), node: this.ml.localName, networkId };
    this.applyNetworkEvent(ev, true);
  }

  /** Records a (node, network) membership event; true when it was news. */
  private applyNetworkEvent(ev: NetworkEvent, rebroadcast: boolean): boolean {
    this.netClock.witness(ev.ltime);
    let byNode = this.memberships.get(ev.node);
    const cur = byNode?.get(ev.networkId);
    if (cur !== undefined && ev.ltime <= cur.ltime) return false;
    if (ev.node === this.ml.localName) {
      const truth = this.tables.hasNetwork(ev.networkId) ? "join" : "leave";
      if (ev.type !== truth) {
        // Someone remembers us in (or out of) a network we are not (or are) in — from
        // before a restart. Say the truth, at a later time.
        this.announceMembership(ev.networkId, truth);
        return false;
      }
    }
    if (byNode === undefined) {
      byNode = new Map();
      this.memberships.set(ev.node, byNode);
    }
    byNode.set(ev.networkId, ev);
    let nodes = this.networkNodes.get(ev.networkId);
    if (ev.type === "join") {
      if (nodes === undefined) {
        nodes = new Set();
        this.networkNodes.set(ev.networkId, nodes);
      }
      nodes.add(ev.node);
      // A member we did not know was in it: it may hold what we never received.
      if (ev.node !== this.ml.localName && this.unsynced.has(ev.networkId) && !this.syncing.has(ev.networkId))
        this.bulkSync(ev.networkId, ev.node);
    } else {
      nodes?.delete(ev.node);
      if (nodes?.size === 0) this.networkNodes.delete(ev.networkId);
      if (ev.node !== this.ml.localName) this.tables.deleteOwned(ev.node, ev.networkId, this.clock.now());
    }
    if (rebroadcast) {
      this.clusterQueue.enqueue(
        `${ev.node}\u0000${ev.networkId}`,
        wrapMessage({ kind: "networkEvent", networkEvent: ev }),
      );
    }
    return true;
  }

  private applyLocal(ev: TableEventMsg): void {
    this.tables.apply(
      ev.networkId,
      ev.table,
      ev.key,
      { owner: ev.owner, ltime: ev.ltime, value: ev.value, deleted: ev.type === "delete" },
      false,
      this.clock.now(),
    );
    const msg = wrap(ev);
    this.netQueues.get(ev.networkId)?.enqueue(`${ev.table}\u0000${ev.key}`, msg);
    this.pushSoon(ev.networkId, msg);
  }

  /** Queues an own change for the direct push at the end of this turn of the event loop. */
  private pushSoon(networkId: string, msg: Uint8Array): void {
    if (!this.running || this.config.pushNodes === 0) return;
    const pending = this.fresh.get(networkId);
    if (pending === undefined) this.fresh.set(networkId, [msg]);
    else pending.push(msg);
    this.pushTimer ??= this.clock.setTimeout(() => {
      this.pushTimer = undefined;
      this.pushFresh();
    }, 0);
  }

  /** Own changes straight to up to pushNodes members of their network, packed into packets. */
  private pushFresh(): void {
    const budget = this.ml.maxMessageCost;
    for (const [networkId, msgs] of this.fresh) {
      const packets: Uint8Array[][] = [];
      let packet: Uint8Array[] = [];
      let used = 0;
      for (const m of msgs) {
        const cost = compoundEntryCost(m.length);
        if (packet.length > 0 && used + cost > budget) {
          packets.push(packet);
          packet = [];
          used = 0;
        }
        packet.push(m);
        used += cost;
      }
      if (packet.length > 0) packets.push(packet);
      for (const peer of this.peers(networkId, this.config.pushNodes)) {
        const addr = this.ml.memberAddress(peer);
        if (addr !== undefined) for (const p of packets) this.ml.sendUserMessages(addr, p);
      }
    }
    this.fresh.clear();
  }

  /** A table event from gossip (`rebroadcast`) or a bulk sync. */
  private applyTableEvent(ev: TableEventMsg, rebroadcast: boolean): void {
    this.tableClock.witness(ev.ltime);
    if (!this.tables.hasNetwork(ev.networkId)) {
      this.counters.droppedNotInNetwork++;
      return;
    }
    if (ev.owner === this.ml.localName) {
      this.ownEntryHeard(ev);
      return;
    }
    const ownerDead = this.ml.memberState(ev.owner) === "dead";
    const result = this.tables.apply(
      ev.networkId,
      ev.table,
      ev.key,
      { owner: ev.owner, ltime: ev.ltime, value: ev.value, deleted: ev.type === "delete" },
      ownerDead,
      this.clock.now(),
    );
    if (result === "newer" && rebroadcast) {
      this.netQueues.get(ev.networkId)?.enqueue(`${ev.table}\u0000${ev.key}`, wrap(ev));
    }
  }

  /** Someone speaks of an entry we own: if it is news to us, the owner corrects it. */
  private ownEntryHeard(ev: TableEventMsg): void {
    const cur = this.tables.get(ev.networkId, ev.table, ev.key);
    if (cur !== undefined && !isNewer(ev, cur)) return;
    const ours = cur !== undefined && cur.owner === this.ml.localName && !cur.deleted;
    this.applyLocal({
      ...ev,
      type: ours ? "put" : "delete",
      value: ours ? cur.value : EMPTY_BYTES,
      ltime: this.tableClock.increment(),
    });
  }

  private ownerBack(name: string): void {
    if (this.tables.unhideOwner(name) === 0) return;
    // It was dead and is back: catch up on what it changed meanwhile.
    for (const [networkId, nodes] of this.networkNodes) {
      if (nodes.has(name) && this.tables.hasNetwork(networkId)) this.bulkSync(networkId, name);
    }
  }

  private ownerLeft(name: string): void {
    if (name === this.ml.localName) return;
    this.tables.deleteOwned(name, undefined, this.clock.now());
    for (const nodes of this.networkNodes.values()) nodes.delete(name);
  }

  private deliver(c: TableChange): void {
    const set = this.subscribers.get(subKey(c.network, c.table));
    if (set === undefined) return;
    for (const h of [...set]) this.call(h, c);
  }

  private call(h: TableEventHandler, c: TableChange): void {
    try {
      h(c);
    } catch (err) {
      this.log.error({ err, network: c.network, table: c.table }, "networkdb subscriber failed");
      this.emitter.emit("error", err);
    }
  }

  /** Up to `k` random alive members of a network other than us. */
  private peers(networkId: string, k: number): string[] {
    const nodes = this.networkNodes.get(networkId);
    if (nodes === undefined) return [];
    const me = this.ml.localName;
    const candidates: string[] = [];
    for (const n of nodes) if (n !== me && this.ml.memberState(n) === "alive") candidates.push(n);
    for (let i = 0; i < Math.min(k, candidates.length); i++) {
      const j = i + randomInt(this.random, candidates.length - i);
      const t = candidates[i] as string;
      candidates[i] = candidates[j] as string;
      candidates[j] = t;
    }
    candidates.length = Math.min(k, candidates.length);
    return candidates;
  }

  private gossip(): void {
    if (!this.running) return;
    const budget = this.ml.maxMessageCost;
    for (const [networkId, queue] of this.netQueues) {
      if (queue.depth === 0) continue;
      for (const peer of this.peers(networkId, this.config.gossipNodes)) {
        const parts: Uint8Array[] = [];
        queue.take(budget, parts);
        if (parts.length === 0) break;
        const addr = this.ml.memberAddress(peer);
        if (addr !== undefined) this.ml.sendUserMessages(addr, parts);
      }
    }
  }

  private reap(): void {
    this.counters.reaped += this.tables.reap(this.clock.now(), this.config.reapEntryMs);
  }

  private syncAll(): void {
    for (const networkId of this.netQueues.keys()) this.bulkSync(networkId, undefined);
  }

  private bulkEntries(networkId: string): TableEventMsg[] {
    const out: TableEventMsg[] = [];
    for (const { table, key, entry } of this.tables.all(networkId)) {
      out.push({
        type: entry.deleted ? "delete" : "put",
        ltime: entry.ltime,
        owner: entry.owner,
        networkId,
        table,
        key,
        value: entry.value,
      });
    }
    return out;
  }

  /** Full exchange of one network with `peer` (or a random member of it); false if none. */
  private bulkSync(networkId: string, peer: string | undefined): boolean {
    if (!this.running) return false;
    const target = peer ?? this.peers(networkId, 1)[0];
    const addr = target === undefined ? undefined : this.ml.memberAddress(target);
    if (addr === undefined) return false;
    this.counters.bulkSyncs++;
    this.syncing.add(networkId);
    const req = encodeNetworkDbMessage({
      kind: "bulkSync",
      bulkSync: { networkId, entries: this.bulkEntries(networkId), sourceNode: this.ml.localName },
    });
    this.ml.requestUser(addr, req, this.ml.config.streamTimeoutMs, (reply, err) => {
      this.syncing.delete(networkId);
      const m = reply === undefined ? undefined : decodeNetworkDbMessage(reply);
      if (m?.kind !== "bulkSync") {
        this.counters.bulkSyncErrors++;
        this.log.debug({ peer: target, network: networkId, err: err?.message }, "bulk sync failed");
        // A first sync is tried again (another random member) until one answers.
        if (this.unsynced.has(networkId))
          this.clock.setTimeout(() => {
            if (this.unsynced.has(networkId) && !this.syncing.has(networkId))
              this.bulkSync(networkId, undefined);
          }, 5 * this.config.gossipIntervalMs);
        return;
      }
      this.unsynced.delete(networkId);
      for (const e of m.bulkSync.entries) if (e.networkId === networkId) this.applyTableEvent(e, false);
    });
    return true;
  }

  // ---------------------------------------------------------------- the Memberlist delegate

  private readonly delegate: MemberlistDelegate = {
    pendingBroadcasts: () => this.clusterQueue.depth,
    takeBroadcasts: (budget, out) => this.clusterQueue.take(budget, out),
    onUserMessage: (payload) => {
      const m = decodeNetworkDbMessage(payload);
      if (m === undefined) {
        this.counters.droppedMalformed++;
        return;
      }
      if (m.kind === "networkEvent") {
        this.counters.networkEventsIn++;
        this.applyNetworkEvent(m.networkEvent, true);
      } else if (m.kind === "tableEvent") {
        this.counters.tableEventsIn++;
        this.applyTableEvent(m.tableEvent, true);
      } else {
        this.counters.droppedMalformed++;
      }
    },
    onUserRequest: (payload, _from, reply) => {
      const m = decodeNetworkDbMessage(payload);
      if (m?.kind !== "bulkSync") {
        this.counters.droppedMalformed++;
        return;
      }
      const networkId = m.bulkSync.networkId;
      const joined = this.tables.hasNetwork(networkId);
      if (joined)
        for (const e of m.bulkSync.entries)
          if (e.networkId === networkId) this.applyTableEvent(e, false);
          else this.counters.droppedNotInNetwork += m.bulkSync.entries.length;
      reply(
        encodeNetworkDbMessage({
          kind: "bulkSync",
          bulkSync: {
            networkId,
            entries: joined ? this.bulkEntries(networkId) : [],
            sourceNode: this.ml.localName,
          },
        }),
      );
    },
    localState: () => {
      const networks: NetworkEvent[] = [];
      for (const byNode of this.memberships.values()) for (const ev of byNode.values()) networks.push(ev);
      return encodeNetworkDbState({
        networks,
        networkLtime: this.netClock.time,
        tableLtime: this.tableClock.time,
      });
    },
    mergeRemoteState: (buf) => {
      const state = decodeNetworkDbState(buf);
      if (state === undefined) {
        this.counters.droppedMalformed++;
        return;
      }
      this.netClock.witness(state.networkLtime);
      this.tableClock.witness(state.tableLtime);
      for (const ev of state.networks) this.applyNetworkEvent(ev, false);
    },
  };
}

function subKey(network: string, table: string): string {
  return `${network}\u0000${table}`;
}

function wrap(ev: TableEventMsg): Uint8Array {
  return wrapMessage({ kind: "tableEvent", tableEvent: ev });
}

function wrapMessage(m: Parameters<typeof encodeNetworkDbMessage>[0]): Uint8Array {
  return encodeMessage({ kind: "user", user: encodeNetworkDbMessage(m) });
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > NAME_MAX || name.includes("\u0000")) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `networkdb: a ${what} name must be 1–${NAME_MAX} characters without NUL, got ${JSON.stringify(name)}`,
    );
  }
}

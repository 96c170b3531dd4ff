/**
 * A cluster of Memberlists on one SimNetwork: what the simulated tests and the gossip
 * benchmark build on. Member i is named `m<i>` and lives at 10.<i/65536>.<…>.<…>:7946, so
 * thousands fit. Every member gets its own seeded Random and the network's per-node clock,
 * so a run replays exactly from its seed; pause/crash/restart act on the process as the
 * SimNetwork models them.
 */
import { silentLogger, type Logger } from "../../common/logger.js";
import { loadGossipConfig, type GossipConfig } from "./config.js";
import { durableClockPair, type ClockCeilings } from "./lamport-clock.js";
import type { Keyring } from "./keyring.js";
import { Memberlist } from "./memberlist.js";
import type { PushPullNode } from "./codec.js";
import type { Member } from "./member-table.js";
import { NetworkDB } from "./networkdb.js";
import { seededRandom } from "./random.js";
import { SimNetwork, type LinkParams } from "./sim-network.js";

export interface SimClusterOptions {
  /** Gossip config fields for every member (nodeName is set per member). */
  config?: Record<string, unknown>;
  seed?: number;
  link?: Partial<LinkParams>;
  logger?: Logger;
  /** A keyring per member (e.g. to test rotation); default: none unless config has keys. */
  keyring?: (name: string) => Keyring | undefined;
  /** Also run a NetworkDB on every member, with these NetworkDbConfig fields. */
  networkdb?: Record<string, unknown>;
}

export interface SimMember {
  name: string;
  addr: string;
  memberlist: Memberlist;
  /** Present when the cluster runs NetworkDB. */
  networkdb: NetworkDB | undefined;
}

export function simAddr(index: number): string {
  const a = (index >> 16) & 255;
  const b = (index >> 8) & 255;
  const c = index & 255;
  return `10.${a}.${b}.${c}:7946`;
}

export class SimCluster {
  readonly sim: SimNetwork;
  readonly members = new Map<string, SimMember>();
  private readonly baseConfig: Record<string, unknown>;
  private readonly seed: number;
  private readonly logger: Logger;
  private readonly keyringFor: ((name: string) => Keyring | undefined) | undefined;
  private readonly networkdbConfig: Record<string, unknown> | undefined;
  private next = 0;
  private readonly crashed = new Set<string>();
  /** Each member's clock ceilings, kept across its crashes as an agent's state dir keeps them. */
  private readonly clockCeilings = new Map<string, ClockCeilings>();

  constructor(opts: SimClusterOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.sim = new SimNetwork({ seed: this.seed, link: opts.link ?? {} });
    this.baseConfig = opts.config ?? {};
    this.logger = opts.logger ?? silentLogger();
    this.keyringFor = opts.keyring;
    this.networkdbConfig = opts.networkdb;
  }

  configFor(name: string): GossipConfig {
    return loadGossipConfig({ ...this.baseConfig, nodeName: name });
  }

  /** Creates and starts a member (a new name, or a restart of a crashed one). */
  add(name?: string, meta?: Uint8Array): SimMember {
    const index = name === undefined ? this.next++ : undefined;
    const memberName = name ?? `m${index}`;
    const existing = this.members.get(memberName);
    const addr = existing?.addr ?? simAddr(index ?? this.next++);
    const transport = this.sim.transport(addr);
    const keyring = this.keyringFor?.(memberName);
    const memberlist = new Memberlist(this.configFor(memberName), transport, {
      clock: this.sim.nodeClock(addr),
      wallClock: () => this.sim.clock.now(),
      random: seededRandom(this.seed * 7919 + hash(memberName)),
      logger: this.logger,
      ...(keyring === undefined ? {} : { keyring }),
      ...(meta === undefined ? {} : { meta }),
    });
    memberlist.start();
    let networkdb: NetworkDB | undefined;
    if (this.networkdbConfig !== undefined) {
      networkdb = new NetworkDB(memberlist, {
        config: this.networkdbConfig,
        logger: this.logger,
        // Kept in clockCeilings across crashes, as an agent's state dir keeps them.
        clocks: durableClockPair(this.ceilingsOf(memberName), () => {}),
      });
      networkdb.start();
    }
    this.crashed.delete(memberName);
    const m = { name: memberName, addr, memberlist, networkdb };
    this.members.set(memberName, m);
    return m;
  }

  private ceilingsOf(name: string): ClockCeilings {
    const c = this.clockCeilings.get(name) ?? { network: 0, table: 0 };
    this.clockCeilings.set(name, c);
    return c;
  }

  /** The member's NetworkDB (the cluster must run NetworkDB). */
  db(name: string): NetworkDB {
    const db = this.get(name).networkdb;
    if (db === undefined) throw new Error("this sim cluster runs no NetworkDB");
    return db;
  }

  get(name: string): SimMember {
    const m = this.members.get(name);
    if (m === undefined) throw new Error(`no sim member ${name}`);
    return m;
  }

  /**
   * `count` members that already know each other (every one alive at incarnation 1), as
   * if they had joined long ago: the benchmark's starting point, without an O(N²) storm
   * of join broadcasts.
   */
  addConverged(count: number): SimMember[] {
    const added: SimMember[] = [];
    for (let i = 0; i < count; i++) added.push(this.add());
    const all: PushPullNode[] = added.map((m) => m.memberlist.localEntry);
    for (const m of added) m.memberlist.adoptMembers(all);
    return added;
  }

  /** Advances virtual time. */
  run(ms: number): void {
    this.sim.run(ms);
  }

  /** Runs until `cond` holds (checked every `stepMs`) or `maxMs` passed; returns whether it held. */
  runUntil(cond: () => boolean, maxMs: number, stepMs = 100): boolean {
    const end = this.sim.clock.now() + maxMs;
    while (!cond()) {
      if (this.sim.clock.now() >= end) return false;
      this.sim.run(stepMs);
    }
    return true;
  }

  crash(name: string): void {
    const m = this.get(name);
    this.sim.crash(m.addr);
    m.networkdb?.stop();
    m.memberlist.stop();
    this.crashed.add(name);
  }

  pause(name: string): void {
    this.sim.pause(this.get(name).addr);
  }

  resume(name: string): void {
    this.sim.resume(this.get(name).addr);
  }

  /** Members not crashed (paused ones included). */
  up(): SimMember[] {
    return [...this.members.values()].filter((m) => !this.crashed.has(m.name));
  }

  isCrashed(name: string): boolean {
    return this.crashed.has(name);
  }

  /** How `observer` sees `subject` (undefined: unknown or reaped). */
  stateOf(observer: string, subject: string): Member["state"] | undefined {
    return this.get(observer).memberlist.member(subject)?.state;
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

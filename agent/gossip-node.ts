/**
 * This node in gossip: memberlist on the advertise address (UDP + TCP, one port) with
 * NetworkDB on top, joined through the seeds the managers list, its keyring following the
 * managers' gossip key ring. The agent owns one when it has an advertise address; NetworkDB
 * is then its endpoint table (see gossip-endpoints.ts).
 */
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { KeyRing } from "./encryption/index.js";
import { durableClocks } from "./gossip/clock-file.js";
import { Memberlist, NetworkDB, UdpTcpTransport, loadGossipConfig } from "./gossip/index.js";

export interface MemberView {
  name: string;
  addr: string;
  port: number;
  state: string;
  incarnation: number;
}

export class GossipNode {
  private constructor(
    readonly memberlist: Memberlist,
    readonly netdb: NetworkDB,
    private readonly advertise: string,
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  /** Binds advertiseAddr:port and starts membership and NetworkDB (joining comes later). */
  static async start(
    nodeName: string,
    advertiseAddr: string,
    port: number,
    profile: string,
    log: Logger,
    /** Where NetworkDB's clock ceilings survive restarts (gossip/clock-file.ts). */
    clockFile: string,
  ): Promise<GossipNode> {
    const transport = await UdpTcpTransport.create({ bindAddr: advertiseAddr, bindPort: port, logger: log });
    const config = loadGossipConfig({ nodeName, profile });
    // The metadata is the node's VTEP address, so members know it before any endpoint does.
    const memberlist = new Memberlist(config, transport, { logger: log, meta: Buffer.from(advertiseAddr) });
    const netdb = new NetworkDB(memberlist, { clocks: durableClocks(clockFile, log) });
    memberlist.start();
    netdb.start();
    return new GossipNode(memberlist, netdb, advertiseAddr, port, log);
  }

  /** Joins through seed addresses (host or host:port); resolves with how many answered. */
  async join(seeds: readonly string[]): Promise<number> {
    const targets = seeds
      .map((s) => (s.includes(":") ? s : `${s}:${this.port}`))
      .filter((s) => s !== `${this.advertise}:${this.port}`);
    if (targets.length === 0) return 0;
    return this.memberlist.join(targets).catch((err: unknown) => {
      this.log.warn(
        { err: errorMessage(err), seeds: targets },
        "gossip join failed; memberlist retries its seeds",
      );
      return 0;
    });
  }

  /**
   * Follows the managers' gossip key ring in memberlist's rotation order — install every
   * key, use the primary, remove keys that left the ring — so gossip keys rotate on the
   * data plane's schedule without any member being marked dead.
   */
  setKeys(ring: KeyRing): void {
    const keyring = this.memberlist.keyring;
    const wanted = ring.keys.map((k) => Buffer.from(k.secret));
    for (const k of wanted) keyring.install(k);
    const primary = ring.keys.find((k) => k.tag === ring.primaryTag);
    if (primary !== undefined) keyring.use(Buffer.from(primary.secret));
    for (const k of keyring.keys()) {
      if (!wanted.some((w) => w.equals(Buffer.from(k)))) keyring.remove(k);
    }
  }

  members(): MemberView[] {
    return this.memberlist.members().map((m) => ({
      name: m.name,
      addr: m.addr,
      port: m.port,
      state: m.state,
      incarnation: m.incarnation,
    }));
  }

  /** No graceful leave: a restarting agent keeps its identity, and the others keep its
   * endpoints (hidden at worst) until it is back. */
  stop(): void {
    this.netdb.stop();
    this.memberlist.stop();
  }
}

/**
 * Relay addresses: with the user-space backend, a VXLAN FDB entry for an endpoint on peer
 * P points at P's relay address instead of P's underlay address. The node routes the
 * whole relay prefix into the relay device, so the kernel VXLAN device's datagram for P
 * reaches the datapath, which reads P from the destination address. The addresses mean
 * something only inside this node; each node allocates its own.
 *
 * Allocation (pure): a peer keeps its address while it stays a peer. A new peer prefers
 * the relay address with the same host bits as its underlay address (100.64.1.7 →
 * 198.18.1.7 with /16 prefixes: readable, and the same after an agent restart); if that
 * is taken it gets the next free one. The prefix's first address is reserved as the
 * datapath's wake-up address (stop() sends a datagram there to unblock the tap read) and
 * its last is never used, so no address looks like a broadcast.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { cidrSize, formatIpv4, parseCidr, parseIpv4, prefixMask, type Cidr } from "../../common/net-addr.js";

export class RelayAddressPool {
  private readonly cidr: Cidr;
  private readonly size: number;
  private readonly byPeer = new Map<string, number>();
  private readonly byIndex = new Map<number, string>();

  constructor(cidrText: string) {
    const c = parseCidr(cidrText);
    if (c === undefined) throw new SwarmnetError(ErrorCode.InvalidArgument, `bad relay prefix ${cidrText}`);
    this.cidr = c;
    this.size = cidrSize(c);
  }

  /** The prefix's first address: never a peer's; the datapath's wake-up target. */
  get wakeAddress(): string {
    return formatIpv4(this.cidr.network);
  }

  /**
   * Makes the pool hold exactly `peerAddrs`; returns peer underlay address → relay
   * address. Throws (changing nothing) if there are more peers than addresses.
   */
  update(peerAddrs: readonly string[]): Map<string, string> {
    const wanted = new Set(peerAddrs);
    if (wanted.size > this.size - 2) {
      throw new SwarmnetError(
        ErrorCode.PoolExhausted,
        `${wanted.size} encrypted peers do not fit the relay prefix (${this.size - 2} addresses)`,
      );
    }
    for (const [peer, idx] of [...this.byPeer]) {
      if (!wanted.has(peer)) {
        this.byPeer.delete(peer);
        this.byIndex.delete(idx);
      }
    }
    for (const peer of wanted) {
      if (this.byPeer.has(peer)) continue;
      const addr = parseIpv4(peer);
      if (addr === undefined)
        throw new SwarmnetError(ErrorCode.InvalidArgument, `peer address ${peer} is not IPv4`);
      const idx = this.freeIndexFrom((addr & ~prefixMask(this.cidr.prefix)) >>> 0);
      this.byPeer.set(peer, idx);
      this.byIndex.set(idx, peer);
    }
    return this.assignments();
  }

  assignments(): Map<string, string> {
    return new Map([...this.byPeer].map(([peer, idx]) => [peer, formatIpv4(this.cidr.network + idx)]));
  }

  relayOf(peer: string): string | undefined {
    const idx = this.byPeer.get(peer);
    return idx === undefined ? undefined : formatIpv4(this.cidr.network + idx);
  }

  private freeIndexFrom(preferred: number): number {
    const usable = (i: number) => i !== 0 && i !== this.size - 1 && !this.byIndex.has(i);
    for (let n = 0; n < this.size; n++) {
      const i = (preferred + n) % this.size;
      if (usable(i)) return i;
    }
    throw new SwarmnetError(ErrorCode.PoolExhausted, "relay prefix exhausted");
  }
}

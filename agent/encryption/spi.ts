/**
 * Security Parameter Index of an ESP state, computed identically on both ends: the
 * sender's outbound state and the receiver's inbound state for (source, destination,
 * key tag) carry the same SPI without any negotiation, so a key ring and the peer list
 * are all a node needs to program its half.
 *
 * Formula (Docker's `buildSPI`, so the idea is familiar): FNV-1a 32-bit over
 *   src (4 bytes) ‖ dst (4 bytes) ‖ tag (u32 big-endian).
 * RFC 4303 §2.1 reserves SPIs 0..255; a hash landing there is moved up by 256 (the same
 * on both sides). The kernel keys inbound states by (dst, SPI, proto), so the only
 * collision that matters is two states towards the same destination: `desiredXfrm`
 * refuses such a plan with a clear error rather than programming an ambiguous one.
 */
import { parseIpv4 } from "../../common/net-addr.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const RESERVED_SPI_LIMIT = 256;

function fnv1a(bytes: readonly number[]): number {
  let h = FNV_OFFSET;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

function octets(addr: string): number[] {
  const n = parseIpv4(addr);
  if (n === undefined) throw new SwarmnetError(ErrorCode.InvalidArgument, `not an IPv4 address: ${addr}`);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

export function spiFor(src: string, dst: string, tag: number): number {
  const t = tag >>> 0;
  const h = fnv1a([...octets(src), ...octets(dst), t >>> 24, (t >>> 16) & 255, (t >>> 8) & 255, t & 255]);
  return h < RESERVED_SPI_LIMIT ? h + RESERVED_SPI_LIMIT : h;
}

/** As `ip xfrm` prints and accepts it: 0x plus 8 hex digits. */
export function formatSpi(spi: number): string {
  return `0x${spi.toString(16).padStart(8, "0")}`;
}

/**
 * Frames at the relay device: what the datapath reads from and writes to the macvtap.
 * Each frame is a virtio-net header (10 bytes, `struct virtio_net_hdr`, little-endian on
 * x86: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) followed by an
 * Ethernet frame carrying the kernel VXLAN device's IPv4/UDP datagram.
 *
 * Outbound, only the UDP payload (VXLAN header + inner frame) and the virtio-net header
 * travel: addresses are implied by the peer. The header's offsets are made relative to
 * the UDP payload so the receiver can re-base them on the headers it builds; they carry
 * checksum offload (NEEDS_CSUM: the inner TCP checksum is left to the kernel, as between
 * a VM and its host), which saves hashing 64 KB per frame in JavaScript.
 *
 * Inbound, the datapath builds Ethernet + IPv4 + UDP headers (52 bytes with the
 * virtio-net header): destination MAC = the node-side relay device, source IP = the
 * peer's relay address (routed back through the relay device, so strict reverse-path
 * filtering accepts it), destination = this node's underlay address, destination port =
 * VXLAN's. The kernel then receives it exactly like a decrypted ESP transport packet.
 */

export const VNET_HDR_BYTES = 10;
const ETH_BYTES = 14;
const IPV4_MIN_BYTES = 20;
const UDP_BYTES = 8;
/** Ethernet + IPv4 without options + UDP: what we build in front of an injected payload. */
export const INJECT_HEADERS_BYTES = ETH_BYTES + IPV4_MIN_BYTES + UDP_BYTES;
const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_UDP = 17;
const VNET_F_NEEDS_CSUM = 1;
const VNET_GSO_NONE = 0;

export type FrameRejection = "not-ipv4-udp" | "not-vxlan" | "truncated" | "bad-offsets";

export interface RelayFrame {
  /** IPv4 destination as u32: the relay address naming the peer. */
  dst: number;
  /** Offset of the UDP payload (VXLAN header) in the buffer. */
  payloadOffset: number;
  /** The virtio-net header with offsets relative to the UDP payload. */
  vnet: Buffer;
}

/** Parses a frame read from the tap; a rejection names why it is not ours to carry. */
export function parseRelayFrame(buf: Buffer, len: number, vxlanPort: number): RelayFrame | FrameRejection {
  const eth = VNET_HDR_BYTES;
  const ip = eth + ETH_BYTES;
  if (len < ip + IPV4_MIN_BYTES + UDP_BYTES) return "truncated";
  if (buf.readUInt16BE(eth + 12) !== ETHERTYPE_IPV4) return "not-ipv4-udp";
  const vihl = buf[ip] as number;
  const ihl = (vihl & 15) * 4;
  if (vihl >> 4 !== 4 || ihl < IPV4_MIN_BYTES || buf[ip + 9] !== IPPROTO_UDP) return "not-ipv4-udp";
  // A fragment has no (or a partial) UDP header; the relay device's MTU makes them impossible.
  if ((buf.readUInt16BE(ip + 6) & 0x3fff) !== 0) return "not-vxlan";
  const udp = ip + ihl;
  if (len < udp + UDP_BYTES) return "truncated";
  if (buf.readUInt16BE(udp + 2) !== vxlanPort) return "not-vxlan";
  if (ip + buf.readUInt16BE(ip + 2) !== len) return "truncated";
  const payloadOffset = udp + UDP_BYTES;
  const vnet = Buffer.from(buf.subarray(0, VNET_HDR_BYTES));
  const base = payloadOffset - VNET_HDR_BYTES;
  // A frame without inner offload may leave the *outer* UDP checksum to the device. The
  // outer UDP header does not travel (the receiver sends it with checksum 0), so neither
  // does that request.
  if (((vnet[0] as number) & VNET_F_NEEDS_CSUM) !== 0 && vnet.readUInt16LE(6) === base - UDP_BYTES) {
    vnet[0] = (vnet[0] as number) & ~VNET_F_NEEDS_CSUM;
    vnet.writeUInt16LE(0, 6);
    vnet.writeUInt16LE(0, 8);
  }
  if (!rebase(vnet, -base)) return "bad-offsets";
  return { dst: buf.readUInt32BE(ip + 16), payloadOffset, vnet };
}

/** Shifts csum_start (and hdr_len of a GSO frame) by `delta`; false if it would go negative. */
function rebase(vnet: Buffer, delta: number): boolean {
  if (((vnet[0] as number) & VNET_F_NEEDS_CSUM) !== 0) {
    const start = vnet.readUInt16LE(6) + delta;
    if (start < 0 || start > 0xffff) return false;
    vnet.writeUInt16LE(start, 6);
  }
  if (vnet[1] !== VNET_GSO_NONE) {
    const hdrLen = vnet.readUInt16LE(2) + delta;
    if (hdrLen < 0 || hdrLen > 0xffff) return false;
    vnet.writeUInt16LE(hdrLen, 2);
  } else {
    vnet.writeUInt16LE(0, 2);
  }
  return true;
}

export interface InjectAddressing {
  /** MAC of the node-side relay device (the frame's destination). */
  dstMac: Buffer;
  /** MAC the frame claims to come from (the tap's). */
  srcMac: Buffer;
  /** Source IPv4 (u32): the peer's relay address. */
  src: number;
  /** Destination IPv4 (u32): this node's underlay address. */
  dst: number;
  vxlanPort: number;
}

/**
 * Headers for injecting `payloadBytes` of VXLAN payload: virtio-net ‖ Ethernet ‖ IPv4 ‖
 * UDP, or undefined when the carried virtio-net header is inconsistent.
 */
export function injectHeaders(
  vnetRelative: Buffer,
  payloadBytes: number,
  a: InjectAddressing,
): Buffer | undefined {
  const h = Buffer.allocUnsafe(VNET_HDR_BYTES + INJECT_HEADERS_BYTES);
  vnetRelative.copy(h, 0, 0, VNET_HDR_BYTES);
  if (!rebase(h, INJECT_HEADERS_BYTES)) return undefined;
  const eth = VNET_HDR_BYTES;
  a.dstMac.copy(h, eth, 0, 6);
  a.srcMac.copy(h, eth + 6, 0, 6);
  h.writeUInt16BE(ETHERTYPE_IPV4, eth + 12);
  const ip = eth + ETH_BYTES;
  const total = IPV4_MIN_BYTES + UDP_BYTES + payloadBytes;
  if (total > 0xffff) return undefined;
  h[ip] = 0x45;
  h[ip + 1] = 0;
  h.writeUInt16BE(total, ip + 2);
  h.writeUInt32BE(0, ip + 4); // id 0, no flags: never fragmented on the relay device
  h[ip + 8] = 64;
  h[ip + 9] = IPPROTO_UDP;
  h.writeUInt16BE(0, ip + 10);
  h.writeUInt32BE(a.src >>> 0, ip + 12);
  h.writeUInt32BE(a.dst >>> 0, ip + 16);
  h.writeUInt16BE(ipv4HeaderChecksum(h, ip), ip + 10);
  const udp = ip + IPV4_MIN_BYTES;
  h.writeUInt16BE(a.vxlanPort, udp);
  h.writeUInt16BE(a.vxlanPort, udp + 2);
  h.writeUInt16BE(UDP_BYTES + payloadBytes, udp + 4);
  h.writeUInt16BE(0, udp + 6); // RFC 768: zero means no checksum (VXLAN over IPv4 sends none either)
  return h;
}

/** RFC 791 header checksum over the 20-byte header at `off` (checksum field as found). */
export function ipv4HeaderChecksum(b: Buffer, off: number): number {
  let s = 0;
  for (let i = 0; i < IPV4_MIN_BYTES; i += 2) s += b.readUInt16BE(off + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

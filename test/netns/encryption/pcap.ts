/**
 * Just enough of the classic pcap format (tcpdump -w) and of IPv4/UDP/VXLAN/ESP to ask a
 * capture the questions the encrypted-overlay tests ask: which VXLAN VNIs crossed in
 * plaintext, whether given bytes appear anywhere, and which UDP datagrams and ESP packets
 * a node sent.
 */
import { readFileSync } from "node:fs";
import { parseIpv4 } from "../../../common/net-addr.js";

export function readPcap(path: string): Buffer[] {
  const b = readFileSync(path);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const frames: Buffer[] = [];
  let off = 24;
  while (off + 16 <= b.length) {
    const incl = u32(off + 8);
    off += 16;
    if (off + incl > b.length) break;
    frames.push(b.subarray(off, off + incl));
    off += incl;
  }
  return frames;
}

export interface Ipv4Packet {
  src: number;
  dst: number;
  proto: number;
  /** True for a fragment other than the first (no transport header). */
  laterFragment: boolean;
  moreFragments: boolean;
  payload: Buffer;
}

export function ipv4Of(frame: Buffer): Ipv4Packet | undefined {
  if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) return undefined;
  const ihl = ((frame[14] as number) & 15) * 4;
  const total = frame.readUInt16BE(16);
  const frag = frame.readUInt16BE(20);
  return {
    src: frame.readUInt32BE(26),
    dst: frame.readUInt32BE(30),
    proto: frame[23] as number,
    laterFragment: (frag & 0x1fff) !== 0,
    moreFragments: (frag & 0x2000) !== 0,
    payload: frame.subarray(14 + ihl, Math.min(frame.length, 14 + total)),
  };
}

/** VNIs of plaintext VXLAN datagrams (UDP to `port`) in the capture, with counts. */
export function plaintextVnis(frames: readonly Buffer[], port = 4789): Map<number, number> {
  const out = new Map<number, number>();
  for (const f of frames) {
    const ip = ipv4Of(f);
    if (ip === undefined || ip.proto !== 17 || ip.laterFragment || ip.payload.length < 16) continue;
    if (ip.payload.readUInt16BE(2) !== port) continue;
    const vni = ip.payload.readUIntBE(12, 3);
    out.set(vni, (out.get(vni) ?? 0) + 1);
  }
  return out;
}

export function containsBytes(frames: readonly Buffer[], needle: Buffer): boolean {
  return frames.some((f) => f.includes(needle));
}

/** Whole (unfragmented) UDP payloads from `src` to `dst`:`port`. */
export function udpPayloads(frames: readonly Buffer[], src: string, dst: string, port: number): Buffer[] {
  const s = parseIpv4(src);
  const d = parseIpv4(dst);
  const out: Buffer[] = [];
  for (const f of frames) {
    const ip = ipv4Of(f);
    if (ip === undefined || ip.proto !== 17 || ip.laterFragment || ip.moreFragments) continue;
    if (ip.src !== s || ip.dst !== d || ip.payload.readUInt16BE(2) !== port) continue;
    out.push(Buffer.from(ip.payload.subarray(8)));
  }
  return out;
}

/** ESP packets in the capture; with `between`, only those from either address to the other. */
export function espPackets(frames: readonly Buffer[], between?: readonly [string, string]): number {
  const ends = between?.map((a) => parseIpv4(a));
  return frames.filter((f) => {
    const ip = ipv4Of(f);
    if (ip?.proto !== 50) return false;
    if (ends === undefined) return true;
    return (ip.src === ends[0] && ip.dst === ends[1]) || (ip.src === ends[1] && ip.dst === ends[0]);
  }).length;
}

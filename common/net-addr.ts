/**
 * IPv4 addresses and prefixes as unsigned 32-bit numbers: parsing, formatting, containment
 * and overlap. Small and pure so IPAM, the lab and the drivers share one definition.
 */

/** Interface names: up to 15 bytes (IFNAMSIZ − 1), no `/`, space or `:`. */
export const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export interface Cidr {
  /** Network address (host bits cleared). */
  network: number;
  prefix: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255 || (p.length > 1 && p.startsWith("0"))) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/len"; host bits must be zero unless `allowHostBits`. */
export function parseCidr(text: string, allowHostBits = false): Cidr | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const addr = parseIpv4(m[1] ?? "");
  const prefix = Number(m[2]);
  if (addr === undefined || prefix > 32) return undefined;
  const network = (addr & prefixMask(prefix)) >>> 0;
  if (!allowHostBits && network !== addr) return undefined;
  return { network, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, addr: number): boolean {
  return (addr & prefixMask(c.prefix)) >>> 0 === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixMask(p);
  return (a.network & m) >>> 0 === (b.network & m) >>> 0;
}

/** The MAC swarmnet gives an endpoint: 02:42 followed by its IPv4 address, as Docker does. */
export function macFromIpv4(addr: number): string {
  const bytes = [0x02, 0x42, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

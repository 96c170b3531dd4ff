/**
 * Subnet allocation: pick the first free subnet of a pool, or check a user's subnet,
 * against everything already taken (other networks' subnets of any scope, and the
 * underlay networks nodes reported — an overlay subnet that overlaps the underlay would
 * hijack the node's own routes).
 *
 * Taken prefixes are merged into sorted disjoint intervals once; the search then walks
 * the pool in subnet-sized, aligned steps, jumping over each taken interval with a
 * binary search: O(t log t + t) for t taken prefixes, whatever the pool's size (10.0.0.0/8
 * in /24s is 65,536 candidates; 200 networks cost ~200 jumps, not 65,536 probes).
 */
import { ErrorCode, SwarmnetError } from "../errors.js";
import { cidrSize, cidrsOverlap, formatCidr, type Cidr } from "../net-addr.js";
import type { PoolSpec } from "./pools.js";

export interface TakenPrefix {
  cidr: Cidr;
  /** What holds it, for the error message ("network web", "underlay of node n2"). */
  holder: string;
}

interface Interval {
  first: number;
  last: number;
}

function toInterval(c: Cidr): Interval {
  return { first: c.network, last: c.network + cidrSize(c) - 1 };
}

/** Sorted, disjoint, merged intervals. */
export function mergeIntervals(prefixes: readonly Cidr[]): Interval[] {
  const sorted = prefixes.map(toInterval).sort((a, b) => a.first - b.first);
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && iv.first <= last.last + 1) last.last = Math.max(last.last, iv.last);
    else out.push({ ...iv });
  }
  return out;
}

/** Index of the first interval whose end is ≥ addr (intervals sorted and disjoint). */
function firstEndingAtOrAfter(ivs: readonly Interval[], addr: number): number {
  let lo = 0;
  let hi = ivs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ivs[mid] as Interval).last < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first free subnet in `pools` (in order), or a `PoolExhausted` error. */
export function allocateSubnet(pools: readonly PoolSpec[], taken: readonly TakenPrefix[]): Cidr {
  const ivs = mergeIntervals(taken.map((t) => t.cidr));
  for (const pool of pools) {
    const block = 2 ** (32 - pool.size);
    const end = pool.base.network + cidrSize(pool.base); // exclusive
    let c = pool.base.network;
    while (c + block <= end) {
      const i = firstEndingAtOrAfter(ivs, c);
      const iv = ivs[i];
      if (iv === undefined || iv.first > c + block - 1) return { network: c >>> 0, prefix: pool.size };
      // Jump past the blocking interval, to the next aligned block.
      c = Math.ceil((iv.last + 1 - pool.base.network) / block) * block + pool.base.network;
    }
  }
  const names = pools.map((p) => `${formatCidr(p.base)} (/${p.size} subnets)`).join(", ");
  throw new SwarmnetError(ErrorCode.PoolExhausted, `address pool exhausted: no free subnet left in ${names}`);
}

/** Throws `Conflict` naming the holder if `subnet` overlaps anything taken. */
export function checkSubnetFree(subnet: Cidr, taken: readonly TakenPrefix[]): void {
  const hit = taken.find((t) => cidrsOverlap(t.cidr, subnet));
  if (hit !== undefined) {
    throw new SwarmnetError(
      ErrorCode.Conflict,
      `subnet ${formatCidr(subnet)} overlaps ${formatCidr(hit.cidr)} (${hit.holder})`,
    );
  }
}

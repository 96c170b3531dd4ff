/**
 * IPAM's default address pools, as Docker has them:
 *
 * - global scope (overlay networks, cluster-wide): 10.0.0.0/8 cut into /24s — 65,536
 *   subnets of 254 addresses; `swarm init --default-addr-pool/--default-addr-pool-mask-length`
 *   replace both numbers for a cluster;
 * - local scope (bridge, macvlan: node-local drivers): 172.17.0.0/16 … 172.31.0.0/16 and
 *   192.168.0.0/16, each cut into /20s (4,094 addresses each).
 *
 * A pool is a base prefix and the size of the subnets carved from it.
 */
import { ErrorCode, SwarmnetError } from "../errors.js";
import { formatCidr, parseCidr, type Cidr } from "../net-addr.js";

export interface PoolSpec {
  base: Cidr;
  /** Prefix length of each subnet carved from `base`. */
  size: number;
}

export const GLOBAL_DEFAULT_POOLS = ["10.0.0.0/8"];
export const GLOBAL_DEFAULT_SUBNET_SIZE = 24;
export const LOCAL_DEFAULT_SUBNET_SIZE = 20;
export const LOCAL_DEFAULT_POOLS = [
  ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
  "192.168.0.0/16",
];

/** Parses pool CIDRs with one subnet size, checking the size fits every pool. */
export function poolSpecs(cidrs: readonly string[], size: number): PoolSpec[] {
  if (!Number.isInteger(size) || size < 1 || size > 30) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `default address pool mask length must be 1..30, got ${size}`,
    );
  }
  return cidrs.map((text) => {
    const base = parseCidr(text);
    if (base === undefined) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid address pool ${JSON.stringify(text)}`);
    }
    if (size < base.prefix) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `mask length /${size} is larger than address pool ${formatCidr(base)}`,
      );
    }
    return { base, size };
  });
}

export function localDefaultPools(): PoolSpec[] {
  return poolSpecs(LOCAL_DEFAULT_POOLS, LOCAL_DEFAULT_SUBNET_SIZE);
}

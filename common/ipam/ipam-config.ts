/**
 * A network's IPAM configuration from the user's flags, as `docker network create` takes
 * them: `--subnet` (repeatable), `--gateway` and `--ip-range` paired with the subnets
 * by position (the first gateway goes with the first subnet, …), `--aux-address
 * name=ip` (each must fall inside one of the subnets; it is reserved there).
 *
 *   parseIpamRequest   syntax and internal consistency only (pure, no store)
 *   resolveIpam        + what is taken: allocate a subnet from the pools when none was
 *                      given, otherwise check the given ones are free; default gateway
 *                      = the subnet's first host address
 *
 * Errors are one line naming the bad value; nothing is allocated until the caller's
 * transaction commits.
 */
import { ErrorCode, SwarmnetError } from "../errors.js";
import {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIpv4,
  parseCidr,
  parseIpv4,
  type Cidr,
} from "../net-addr.js";
import type { PoolSpec } from "./pools.js";
import { allocateSubnet, checkSubnetFree, type TakenPrefix } from "./subnets.js";

export interface IpamRequest {
  subnets: readonly string[];
  gateways: readonly string[];
  ipRanges: readonly string[];
  /** "name=ip" strings. */
  auxAddresses: readonly string[];
}

export interface ParsedIpamConfig {
  subnet: Cidr;
  gateway: number | undefined;
  ipRange: Cidr | undefined;
  aux: Map<string, number>;
}

export interface ResolvedIpamConfig {
  subnet: Cidr;
  gateway: number;
  ipRange: Cidr | undefined;
  aux: Map<string, number>;
}

/** Smallest subnet that leaves a host after network, broadcast and gateway: /30. */
const MAX_SUBNET_PREFIX = 30;

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

function parseSubnet(flag: string, text: string): Cidr {
  const c = parseCidr(text);
  if (c !== undefined) return c;
  const loose = parseCidr(text, true);
  if (loose !== undefined) {
    throw invalid(`invalid ${flag} ${text}: host bits are set, it should be ${formatCidr(loose)}`);
  }
  throw invalid(`invalid ${flag} ${JSON.stringify(text)}: not an IPv4 CIDR like 10.1.0.0/24`);
}

function parseAddress(flag: string, text: string): number {
  const a = parseIpv4(text);
  if (a === undefined) throw invalid(`invalid ${flag} ${JSON.stringify(text)}: not an IPv4 address`);
  return a;
}

export function parseIpamRequest(req: IpamRequest): ParsedIpamConfig[] {
  const subnets = req.subnets.map((s) => parseSubnet("--subnet", s));
  for (const s of subnets) {
    if (s.prefix > MAX_SUBNET_PREFIX) {
      throw invalid(`subnet ${formatCidr(s)} is too small: use a prefix of /${MAX_SUBNET_PREFIX} or shorter`);
    }
  }
  subnets.forEach((a, i) =>
    subnets.slice(i + 1).forEach((b) => {
      if (cidrsOverlap(a, b)) throw invalid(`subnets ${formatCidr(a)} and ${formatCidr(b)} overlap`);
    }),
  );
  const extra = (flag: string, values: readonly string[]) => {
    if (values.length > subnets.length) {
      throw invalid(
        `${flag} ${values[subnets.length]} has no --subnet to pair with (${flag} pairs with --subnet by position)`,
      );
    }
  };
  extra("--gateway", req.gateways);
  extra("--ip-range", req.ipRanges);

  const configs: ParsedIpamConfig[] = subnets.map((subnet, i) => {
    const gwText = req.gateways[i];
    const rangeText = req.ipRanges[i];
    let gateway: number | undefined;
    if (gwText !== undefined) {
      gateway = parseAddress("--gateway", gwText);
      if (!cidrContains(subnet, gateway)) {
        throw invalid(`gateway ${gwText} is outside subnet ${formatCidr(subnet)}`);
      }
      const last = subnet.network + cidrSize(subnet) - 1;
      if (gateway === subnet.network || gateway === last) {
        throw invalid(`gateway ${gwText} is the network or broadcast address of ${formatCidr(subnet)}`);
      }
    }
    let ipRange: Cidr | undefined;
    if (rangeText !== undefined) {
      ipRange = parseSubnet("--ip-range", rangeText);
      if (ipRange.prefix < subnet.prefix || !cidrContains(subnet, ipRange.network)) {
        throw invalid(`ip-range ${rangeText} is outside subnet ${formatCidr(subnet)}`);
      }
    }
    return { subnet, gateway, ipRange, aux: new Map<string, number>() };
  });

  for (const text of req.auxAddresses) {
    const eq = text.indexOf("=");
    const name = eq > 0 ? text.slice(0, eq) : "";
    if (name === "") throw invalid(`invalid --aux-address ${JSON.stringify(text)}: use name=ip`);
    const addr = parseAddress("--aux-address", text.slice(eq + 1));
    const config = configs.find((c) => cidrContains(c.subnet, addr));
    if (config === undefined) {
      throw invalid(`aux-address ${text} is outside every --subnet (aux addresses need a matching subnet)`);
    }
    if (configs.some((c) => c.aux.has(name))) throw invalid(`aux-address name ${name} is given twice`);
    if (addr === config.gateway) throw invalid(`aux-address ${text} is the gateway`);
    config.aux.set(name, addr);
  }
  return configs;
}

/**
 * The final configs: one subnet from `pools` when the request had none, otherwise the
 * requested subnets checked against `taken`.
 */
export function resolveIpam(
  parsed: readonly ParsedIpamConfig[],
  pools: readonly PoolSpec[],
  taken: readonly TakenPrefix[],
): ResolvedIpamConfig[] {
  if (parsed.length === 0) {
    const subnet = allocateSubnet(pools, taken);
    return [{ subnet, gateway: subnet.network + 1, ipRange: undefined, aux: new Map() }];
  }
  return parsed.map((p) => {
    checkSubnetFree(p.subnet, taken);
    const gateway = p.gateway ?? p.subnet.network + 1;
    for (const [name, addr] of p.aux) {
      if (addr === gateway) throw invalid(`aux-address ${name}=${formatIpv4(addr)} is the gateway`);
    }
    return { subnet: p.subnet, gateway, ipRange: p.ipRange, aux: p.aux };
  });
}

/** The stored form: strings, as `network inspect` shows them. */
export function formatIpamConfig(c: ResolvedIpamConfig): {
  subnet: string;
  gateway: string;
  ipRange?: string;
  auxAddresses: Record<string, string>;
} {
  return {
    subnet: formatCidr(c.subnet),
    gateway: formatIpv4(c.gateway),
    ...(c.ipRange === undefined ? {} : { ipRange: formatCidr(c.ipRange) }),
    auxAddresses: Object.fromEntries([...c.aux].map(([k, v]) => [k, formatIpv4(v)])),
  };
}

/**
 * IPAM for the node's own networks (the default bridge, user-defined bridges, macvlan,
 * ipvlan): pure decisions over the shared IPAM code (common/ipam), with what is taken
 * read by the caller.
 *
 *   subnets    Docker's local default pools: 172.18.0.0/16 … 172.31.0.0/16 whole, then
 *              192.168.0.0/16 in /20 blocks; a subnet never overlaps the node's own
 *              addresses (the underlay), the gateway bridge, another local network or a
 *              cluster network this node knows — a `--subnet` that does is refused
 *              naming the holder.
 *   addresses  the lowest free address of the network's first IPAM config (its
 *              `--ip-range` if given), Docker's bridge IPAM; `--ip` anywhere in the
 *              subnet, checked. Which addresses are taken is read from the node's
 *              containers, so nothing is ever to be released.
 */
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import type { NetworkIntent } from "../common/cluster-types.js";
import {
  allocateAddress,
  checkStaticAddress,
  formatIpamConfig,
  poolSpecs,
  resolveIpam,
  type AddressSpace,
  type PoolSpec,
  type TakenPrefix,
} from "../common/ipam/index.js";
import type { NetworkSpec } from "../common/network-spec.js";
import { formatIpv4, parseCidr, parseIpv4 } from "../common/net-addr.js";

export function localPools(): PoolSpec[] {
  const sixteens = Array.from({ length: 14 }, (_, i) => `172.${18 + i}.0.0/16`);
  return [...poolSpecs(sixteens, 16), ...poolSpecs(["192.168.0.0/16"], 20)];
}

/** One prefix that holds addresses, named for the message that refuses an overlap. */
export function prefixOf(cidr: string, holder: string): TakenPrefix[] {
  const c = parseCidr(cidr, true);
  return c === undefined ? [] : [{ cidr: c, holder }];
}

/** Every subnet of `networks`, held by the network. */
export function networkPrefixes(networks: readonly NetworkIntent[]): TakenPrefix[] {
  return networks.flatMap((n) => n.ipam.configs.flatMap((c) => prefixOf(c.subnet, `network ${n.name}`)));
}

/** A new local network from a checked spec: its subnets chosen or checked against `taken`. */
export function planLocalNetwork(
  spec: NetworkSpec,
  taken: readonly TakenPrefix[],
  id: string,
  createdAt: string,
): NetworkIntent {
  const ipam = resolveIpam(spec.ipam, localPools(), taken).map(formatIpamConfig);
  return {
    id,
    name: spec.name,
    driver: spec.driver,
    scope: "local",
    createdAt,
    internal: spec.internal,
    attachable: false,
    ingress: false,
    ipam: {
      driver: spec.ipamDriver,
      configs: ipam.map((c) => ({ ...c, ipRange: c.ipRange })),
      options: spec.ipamOptions,
    },
    options: spec.options,
    labels: spec.labels,
    vni: undefined,
    encrypted: false,
    mtu: spec.mtu,
  };
}

function addressSpace(n: NetworkIntent): AddressSpace {
  const c = n.ipam.configs[0];
  const subnet = c === undefined ? undefined : parseCidr(c.subnet);
  if (c === undefined || subnet === undefined)
    throw new SwarmnetError(ErrorCode.Internal, `network ${n.name} has no IPAM config`);
  const range = c.ipRange === undefined ? undefined : parseCidr(c.ipRange);
  return {
    subnet,
    gateway: parseIpv4(c.gateway) ?? subnet.network + 1,
    ...(range === undefined ? {} : { ipRange: range }),
    reserved: Object.values(c.auxAddresses).flatMap((a) => parseIpv4(a) ?? []),
  };
}

/**
 * An address on local network `n`: `requested` checked (inside the subnet, not reserved,
 * not in `used`), or the lowest free one.
 */
export function allocateLocalAddress(
  n: NetworkIntent,
  used: ReadonlySet<string>,
  requested: string | undefined,
): string {
  const space = addressSpace(n);
  const taken = (a: number) => used.has(formatIpv4(a));
  if (requested === undefined) return formatIpv4(allocateAddress(space, taken));
  const addr = parseIpv4(requested);
  if (addr === undefined)
    throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid IP address ${JSON.stringify(requested)}`);
  checkStaticAddress(space, addr, taken);
  return requested;
}

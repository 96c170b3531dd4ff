/**
 * Address allocation inside one network's subnet: endpoint IPs, service VIPs and static
 * IPs. Never handed out: the network address, the broadcast address, the gateway and
 * the aux addresses (`--aux-address`, reserved for things outside swarmnet). With an
 * `--ip-range`, dynamic allocation stays inside it while static IPs may use the whole
 * subnet (Docker's rule).
 *
 * Dynamic allocation is serial, as in Docker's swarm IPAM: the next free address after
 * the last one handed out, wrapping around, so a just-released address is not reused at
 * once (a stale neighbour entry somewhere would otherwise send its traffic to a new
 * owner). The caller keeps the cursor with the network.
 */
import { ErrorCode, SwarmnetError } from "../errors.js";
import { cidrContains, cidrSize, formatCidr, formatIpv4, type Cidr } from "../net-addr.js";

export interface AddressSpace {
  subnet: Cidr;
  gateway: number;
  /** Dynamic allocations come from here; the whole subnet when absent. */
  ipRange?: Cidr;
  /** Aux addresses: never allocated. */
  reserved: readonly number[];
}

function firstLast(c: Cidr): { first: number; last: number } {
  return { first: c.network, last: c.network + cidrSize(c) - 1 };
}

/** Whether `addr` may ever be handed out in this space (ignoring current allocations). */
export function isAssignable(space: AddressSpace, addr: number): boolean {
  const { first, last } = firstLast(space.subnet);
  return addr > first && addr < last && addr !== space.gateway && !space.reserved.includes(addr);
}

/**
 * The next free address at or after `cursor` (wrapping), or undefined when full.
 * `taken(addr)` says whether an address is already allocated.
 */
export function nextFreeAddress(
  space: AddressSpace,
  taken: (addr: number) => boolean,
  cursor = 0,
): number | undefined {
  const range = firstLast(space.ipRange ?? space.subnet);
  const size = range.last - range.first + 1;
  const start = cursor >= range.first && cursor <= range.last ? cursor - range.first : 0;
  for (let i = 0; i < size; i++) {
    const addr = range.first + ((start + i) % size);
    if (isAssignable(space, addr) && !taken(addr)) return addr;
  }
  return undefined;
}

/** Allocates the next free address or throws `PoolExhausted`. */
export function allocateAddress(space: AddressSpace, taken: (addr: number) => boolean, cursor = 0): number {
  const addr = nextFreeAddress(space, taken, cursor);
  if (addr === undefined) {
    const where = formatCidr(space.ipRange ?? space.subnet);
    throw new SwarmnetError(ErrorCode.PoolExhausted, `no free address left in ${where}`);
  }
  return addr;
}

/** Checks a static IP request (`--ip`): inside the subnet, assignable and free. */
export function checkStaticAddress(
  space: AddressSpace,
  addr: number,
  taken: (addr: number) => boolean,
): void {
  const ip = formatIpv4(addr);
  if (!cidrContains(space.subnet, addr)) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `address ${ip} is outside subnet ${formatCidr(space.subnet)}`,
    );
  }
  if (!isAssignable(space, addr)) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `address ${ip} is reserved in ${formatCidr(space.subnet)} (network, broadcast, gateway or aux address)`,
    );
  }
  if (taken(addr)) throw new SwarmnetError(ErrorCode.Conflict, `address ${ip} is already in use`);
}

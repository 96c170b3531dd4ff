/**
 * Addresses inside a network, allocated within a store transaction: endpoint IPs of
 * containers and tasks, service VIPs, nodes' ingress endpoints.
 *
 * One `TxnAddresses` per transaction. The first allocation on a network reads (and so
 * guards) every allocated address of it and its serial cursor; later allocations in the
 * same transaction see the earlier ones from a local copy, because a transaction does
 * not read its own writes. Two managers allocating on one network both read the same
 * prefix, so one commit fails and recomputes: an address is never handed out twice.
 *
 * The decisions are IPAM's (`ipam/addresses.ts`: serial allocation after the cursor,
 * never the network, broadcast, gateway or aux addresses; static IPs anywhere in the
 * subnet). A network with several subnets allocates from the first that has room; a
 * static IP goes to the subnet that contains it. Errors name the network.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { cidrContains, formatIpv4, parseCidr, parseIpv4, type Cidr } from "../../common/net-addr.js";
import { allocateAddress, checkStaticAddress, type AddressSpace } from "../ipam/index.js";
import { keys, lastSegment } from "../store/keys.js";
import type {
  AddressCursorRecord,
  AddressRecord,
  IpamConfigRecord,
  NetworkRecord,
} from "../store/records.js";
import type { StoreTxn } from "../store/store.js";

export interface AllocatedAddress {
  ip: string;
  /** The subnet the address is in, its gateway and prefix length. */
  subnet: string;
  gateway: string;
  prefixLength: number;
}

interface NetworkAddresses {
  taken: Set<number>;
  cursor: number;
}

interface Space {
  config: IpamConfigRecord;
  subnet: Cidr;
  space: AddressSpace;
}

/** The address spaces of a network's IPAM configs, in order. */
export function addressSpaces(n: NetworkRecord): Space[] {
  return n.ipam.configs.flatMap((config) => {
    const subnet = parseCidr(config.subnet);
    const gateway = parseIpv4(config.gateway);
    if (subnet === undefined || gateway === undefined) return [];
    const ipRange = config.ipRange === undefined ? undefined : parseCidr(config.ipRange);
    const reserved = Object.values(config.auxAddresses)
      .map((a) => parseIpv4(a))
      .filter((a): a is number => a !== undefined);
    return [{ config, subnet, space: { subnet, gateway, ...(ipRange ? { ipRange } : {}), reserved } }];
  });
}

/** Prefixes a SwarmnetError's message with the network it is about (same code). */
function onNetwork(n: NetworkRecord, err: unknown): unknown {
  if (!(err instanceof SwarmnetError)) return err;
  return new SwarmnetError(err.code, `network ${n.name}: ${err.message}`, {
    cause: err,
    retryable: err.retryable,
  });
}

export class TxnAddresses {
  private readonly networks = new Map<string, NetworkAddresses>();

  constructor(private readonly tx: StoreTxn) {}

  private async load(networkId: string): Promise<NetworkAddresses> {
    let state = this.networks.get(networkId);
    if (state === undefined) {
      const taken = new Set(
        (await this.tx.listKeys(keys.addressesPrefix(networkId)))
          .map((k) => parseIpv4(lastSegment(k)))
          .filter((a): a is number => a !== undefined),
      );
      const cursor = await this.tx.get<AddressCursorRecord>(keys.addressCursor(networkId));
      state = { taken, cursor: parseIpv4(cursor?.next ?? "") ?? 0 };
      this.networks.set(networkId, state);
    }
    return state;
  }

  /**
   * Allocates an address on `n` for `owner` ("container:<id>", "task:<id>", …): the
   * `requested` one (checked: inside a subnet, assignable, free) or the next free one.
   */
  async allocate(n: NetworkRecord, owner: string, requested?: string): Promise<AllocatedAddress> {
    const spaces = addressSpaces(n);
    const state = await this.load(n.id);
    const taken = (a: number) => state.taken.has(a);
    let chosen: { s: Space; addr: number } | undefined;
    try {
      if (requested !== undefined && requested !== "") {
        const addr = parseIpv4(requested);
        if (addr === undefined) {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            `invalid IP address ${JSON.stringify(requested)}`,
          );
        }
        const s = spaces.find((x) => cidrContains(x.subnet, addr)) ?? spaces[0];
        if (s === undefined) throw new SwarmnetError(ErrorCode.Internal, "the network has no subnet");
        checkStaticAddress(s.space, addr, taken);
        chosen = { s, addr };
      } else {
        let last: unknown;
        for (const s of spaces) {
          try {
            chosen = { s, addr: allocateAddress(s.space, taken, state.cursor) };
            break;
          } catch (err) {
            last = err;
          }
        }
        if (chosen === undefined)
          throw last ?? new SwarmnetError(ErrorCode.Internal, "the network has no subnet");
        state.cursor = chosen.addr + 1;
        const cursor: AddressCursorRecord = { next: formatIpv4(state.cursor >>> 0) };
        this.tx.put(keys.addressCursor(n.id), cursor);
      }
    } catch (err) {
      throw onNetwork(n, err);
    }
    state.taken.add(chosen.addr);
    const ip = formatIpv4(chosen.addr);
    const record: AddressRecord = { owner };
    this.tx.put(keys.address(n.id, ip), record);
    return {
      ip,
      subnet: chosen.s.config.subnet,
      gateway: chosen.s.config.gateway,
      prefixLength: chosen.s.subnet.prefix,
    };
  }

  /** Frees an address (nothing happens if it was not allocated). */
  release(networkId: string, ip: string): void {
    const addr = parseIpv4(ip);
    if (addr !== undefined) this.networks.get(networkId)?.taken.delete(addr);
    this.tx.delete(keys.address(networkId, ip));
  }
}

/** Subnet, gateway and prefix length of an address already allocated on `n`. */
export function addressInfo(n: NetworkRecord, ip: string): AllocatedAddress {
  const addr = parseIpv4(ip) ?? 0;
  const spaces = addressSpaces(n);
  const s = spaces.find((x) => cidrContains(x.subnet, addr)) ?? spaces[0];
  return {
    ip,
    subnet: s?.config.subnet ?? "",
    gateway: s?.config.gateway ?? "",
    prefixLength: s?.subnet.prefix ?? 32,
  };
}

/**
 * The bridge driver's network options, Docker's names (`-o key=value`), read once from a
 * network's intent into plain values, and checked at `network create` so a bad value is a
 * clear error then, never a failing reconcile later:
 *
 *   com.docker.network.bridge.name                  Linux bridge device (default br-<id12>)
 *   com.docker.network.bridge.enable_icc            false: containers on it cannot talk
 *   com.docker.network.bridge.enable_ip_masquerade  false: no masquerade on the way out
 *   com.docker.network.driver.mtu (or mtu)          MTU of the bridge and its veths
 *
 * `--internal` (the intent's `internal`): no route out, no masquerade, nothing in.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import type { NetworkIntent } from "../../../common/cluster-types.js";
import { IFNAME, parseCidr } from "../../../common/net-addr.js";

export const BRIDGE = "bridge";
export const OPT_BRIDGE_NAME = "com.docker.network.bridge.name";
export const OPT_ICC = "com.docker.network.bridge.enable_icc";
export const OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade";
export const DEFAULT_MTU = 1500;

export interface BridgeNetwork {
  id: string;
  name: string;
  device: string;
  gateway: string;
  subnet: string;
  prefix: number;
  mtu: number;
  icc: boolean;
  masquerade: boolean;
  internal: boolean;
}

function flag(n: NetworkIntent, key: string): boolean {
  const v = n.options[key];
  if (v === undefined || v === "" || v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `invalid value for option ${key}: ${JSON.stringify(v)} (use true or false)`,
  );
}

export function bridgeDevice(n: NetworkIntent): string {
  return n.options[OPT_BRIDGE_NAME] ?? `br-${n.id.slice(0, 12)}`;
}

/** The network as the bridge driver builds it; throws on a bad option. */
export function bridgeNetwork(n: NetworkIntent): BridgeNetwork {
  const device = bridgeDevice(n);
  if (!IFNAME.test(device))
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `invalid bridge name ${JSON.stringify(device)}: use up to 15 letters, digits, _ . -`,
    );
  const c = n.ipam.configs[0];
  const cidr = c === undefined ? undefined : parseCidr(c.subnet);
  if (c === undefined || cidr === undefined)
    throw new SwarmnetError(ErrorCode.InvalidArgument, `network ${n.name} has no subnet`);
  return {
    id: n.id,
    name: n.name,
    device,
    gateway: c.gateway,
    subnet: c.subnet,
    prefix: cidr.prefix,
    mtu: n.mtu ?? DEFAULT_MTU,
    icc: flag(n, OPT_ICC),
    masquerade: flag(n, OPT_MASQUERADE) && !n.internal,
    internal: n.internal,
  };
}

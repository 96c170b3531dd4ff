/**
 * Kernel names of the bridge driver, derived from stable ids so a restarted agent finds
 * what it made: host-side veth `vb<10 hex of sha1(endpoint key)>`, and the alias
 * `swarmnet:<network id>` on every bridge device it made (a bridge's name may be the
 * user's choice, so the alias is what says the device is ours to remove).
 */
import { createHash } from "node:crypto";

export const VETH_PREFIX = "vb";
const ALIAS_PREFIX = "swarmnet:";

export function bridgeVeth(endpointKey: string): string {
  return `${VETH_PREFIX}${createHash("sha1").update(endpointKey).digest("hex").slice(0, 10)}`;
}

export function bridgeAlias(networkId: string): string {
  return `${ALIAS_PREFIX}${networkId}`;
}

/** The network id of an alias we set, or "" for any other. */
export function ownerOfAlias(alias: string | undefined): string {
  return alias?.startsWith(ALIAS_PREFIX) === true ? alias.slice(ALIAS_PREFIX.length) : "";
}

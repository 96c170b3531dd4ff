/**
 * Kernel names of the sub-interface drivers: an endpoint's temporary name in the node's
 * namespace, `<mv|iv><10 hex of sha1(endpoint key)>`, before it moves into its container,
 * and the alias `swarmnet:<kind>:<network id>` on a VLAN sub-interface a network made
 * (so only ours is ever removed, and only by the driver of its kind).
 */
import { createHash } from "node:crypto";
import type { SubKind } from "../../../common/parent-network.js";

const TEMP_PREFIX: Record<SubKind, string> = { macvlan: "mv", ipvlan: "iv" };

export function tempName(kind: SubKind, key: string): string {
  return `${TEMP_PREFIX[kind]}${createHash("sha1").update(key).digest("hex").slice(0, 10)}`;
}

export function isTempName(kind: SubKind, name: string): boolean {
  return new RegExp(`^${TEMP_PREFIX[kind]}[0-9a-f]{10}$`).test(name);
}

export function vlanAlias(kind: SubKind, networkId: string): string {
  return `swarmnet:${kind}:${networkId}`;
}

/** The network id of a VLAN alias of this kind, or "" for any other. */
export function vlanOwner(kind: SubKind, alias: string | undefined): string {
  const prefix = `swarmnet:${kind}:`;
  return alias?.startsWith(prefix) === true ? alias.slice(prefix.length) : "";
}

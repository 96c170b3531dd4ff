/**
 * Options of the drivers whose endpoints are sub-interfaces of a parent device of the
 * node (macvlan, ipvlan), Docker's names:
 *
 *   parent=eth0          required here (Docker would make a dummy; a container on it
 *                        would reach nothing): the parent must exist on this node
 *   parent=eth0.10       802.1q trunk: the VLAN sub-interface is made with the network
 *                        (and removed with it; for a `--scope swarm` network, made with
 *                        the node's first container on it and removed with its last) —
 *                        only where the kernel has 802.1q
 *   macvlan_mode=…       bridge (default), private, vepa, passthru
 *   ipvlan_mode=…        l2 (default), l3, l3s
 *
 * Read once from the network's intent into plain values; `parentNetwork` throws the
 * clear error `network create` shows. Shared: the agent reads a network with it, and
 * `network create` checks the options with `parentOptions` before anything is stored
 * (only the node itself can tell whether the parent exists).
 */
import { ErrorCode, SwarmnetError } from "./errors.js";
import type { NetworkIntent } from "./cluster-types.js";
import { IFNAME, parseCidr } from "./net-addr.js";

export type SubKind = "macvlan" | "ipvlan";

export const MODES: Record<SubKind, { option: string; modes: readonly string[] }> = {
  macvlan: { option: "macvlan_mode", modes: ["bridge", "private", "vepa", "passthru"] },
  ipvlan: { option: "ipvlan_mode", modes: ["l2", "l3", "l3s"] },
};

export interface Vlan {
  /** e.g. eth0.10 */
  device: string;
  base: string;
  id: number;
}

export interface ParentNetwork {
  id: string;
  name: string;
  kind: SubKind;
  parent: string;
  vlan: Vlan | undefined;
  mode: string;
  gateway: string;
  prefix: number;
  /** 0: the parent's. */
  mtu: number;
  internal: boolean;
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

export interface ParentOptions {
  parent: string;
  vlan: Vlan | undefined;
  mode: string;
}

export function parentOptions(options: Readonly<Record<string, string>>, kind: SubKind): ParentOptions {
  const parent = options["parent"];
  if (parent === undefined || parent === "")
    throw invalid(`a ${kind} network needs its parent interface: -o parent=<interface> (e.g. eth0)`);
  if (!IFNAME.test(parent)) throw invalid(`invalid parent interface name ${JSON.stringify(parent)}`);
  const m = /^(.+)\.(\d+)$/.exec(parent);
  let vlan: Vlan | undefined;
  if (m !== null) {
    const id = Number(m[2]);
    if (id < 1 || id > 4094) throw invalid(`invalid VLAN id ${id} in parent ${parent} (1-4094)`);
    vlan = { device: parent, base: m[1] ?? "", id };
  }
  const { option, modes } = MODES[kind];
  const mode = options[option] ?? modes[0] ?? "";
  if (!modes.includes(mode))
    throw invalid(`invalid ${option} ${JSON.stringify(mode)} (use ${modes.join(", ")})`);
  return { parent, vlan, mode };
}

export function parentNetwork(n: NetworkIntent, kind: SubKind): ParentNetwork {
  const { parent, vlan, mode } = parentOptions(n.options, kind);
  const c = n.ipam.configs[0];
  const cidr = c === undefined ? undefined : parseCidr(c.subnet);
  if (c === undefined || cidr === undefined) throw invalid(`network ${n.name} has no subnet`);
  return {
    id: n.id,
    name: n.name,
    kind,
    parent,
    vlan,
    mode,
    gateway: c.gateway,
    prefix: cidr.prefix,
    mtu: n.mtu ?? 0,
    internal: n.internal,
  };
}

/**
 * Docker's rule: one network per parent interface (ipvlan's mode belongs to the parent,
 * so a second network would switch the first's). Throws naming the network that already
 * uses `parent`; the agent checks its local and the cluster's networks, the managers the
 * cluster's.
 */
export function assertParentFree(
  parent: string | undefined,
  networks: Iterable<{ name: string; options: Readonly<Record<string, string>> }>,
): void {
  if (parent === undefined) return;
  for (const n of networks)
    if (n.options["parent"] === parent)
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `network ${n.name} is already using parent interface ${parent}`,
      );
}

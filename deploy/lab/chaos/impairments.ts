/**
 * Network faults inside a lab node's namespace: partitions (drop everything from or to
 * some underlay addresses), packet loss and delay on its underlay link.
 *
 * Partitions and nftables loss live in a table of our own, `inet swarmnet_chaos`, never
 * in the agent's table `swarmnet` and never in the host namespace. Its chains hook
 * prerouting and postrouting at priority -300 (before conntrack) on `eth0` only, so they
 * see every underlay packet in and out: local traffic (gossip, gRPC, VXLAN the kernel
 * encapsulates here) and forwarded traffic (the routing mesh's DNAT to the ingress
 * sandbox) alike, and nothing else. The table is rendered whole from the node's desired
 * impairment and replaced in one `nft -f` transaction (`table …` + `delete table …`
 * first, so replacing a missing table is not an error).
 *
 * Loss and delay use netem where the kernel has it (`tc qdisc replace dev eth0 root netem
 * loss P% delay D`, one qdisc carrying both). Where it does not (this machine:
 * "Specified qdisc kind is unknown"), loss becomes `numgen random mod 100 < P drop` in
 * both directions (so a round trip loses about 1-(1-P)² of its packets) and delay is
 * reported as unavailable with that reason. `impairLink` is the one entry for both paths.
 *
 * Each function takes an executor and where it acts (`InNetns`): a namespace node's
 * namespace, or for a VM node (`lab up --vm`, Debian's kernel, which has netem) an
 * executor running commands in the guest and no namespace (Lab.kernel).
 */
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import type { Executor, InNetns } from "../../../common/executor.js";

export const CHAOS_TABLE = "swarmnet_chaos";
const UNDERLAY_DEV = "eth0";

/** What one node's underlay should suffer; the empty impairment removes the table. */
export interface Impairment {
  /** Underlay addresses whose packets to this node are dropped. */
  dropFrom: string[];
  /** Underlay addresses this node's packets to are dropped. */
  dropTo: string[];
  /** nftables loss, both directions (0: none). */
  lossPercent: number;
}

export const NO_IMPAIRMENT: Impairment = { dropFrom: [], dropTo: [], lossPercent: 0 };

export function isEmpty(i: Impairment): boolean {
  return i.dropFrom.length === 0 && i.dropTo.length === 0 && i.lossPercent === 0;
}

/** The whole `nft -f` script for one node (pure). */
export function renderChaosTable(i: Impairment): string {
  const t = `inet ${CHAOS_TABLE}`;
  const lines = [`table ${t}`, `delete table ${t}`];
  if (isEmpty(i)) return lines.join("\n") + "\n";
  const set = (addrs: string[]) => `{ ${[...addrs].sort().join(", ")} }`;
  const inbound: string[] = [];
  const outbound: string[] = [];
  if (i.dropFrom.length > 0) inbound.push(`iifname "${UNDERLAY_DEV}" ip saddr ${set(i.dropFrom)} drop`);
  if (i.dropTo.length > 0) outbound.push(`oifname "${UNDERLAY_DEV}" ip daddr ${set(i.dropTo)} drop`);
  if (i.lossPercent > 0) {
    inbound.push(`iifname "${UNDERLAY_DEV}" numgen random mod 100 < ${i.lossPercent} drop`);
    outbound.push(`oifname "${UNDERLAY_DEV}" numgen random mod 100 < ${i.lossPercent} drop`);
  }
  const chain = (name: string, hook: string, rules: string[]) =>
    [
      `  chain ${name} {`,
      `    type filter hook ${hook} priority -300; policy accept;`,
      ...rules.map((r) => `    ${r}`),
      "  }",
    ].join("\n");
  lines.push(
    `table ${t} {`,
    chain("underlay_in", "prerouting", inbound),
    chain("underlay_out", "postrouting", outbound),
    "}",
  );
  return lines.join("\n") + "\n";
}

/** Replaces the node's chaos table (`at`: its namespace, or nothing for a VM's own). */
export async function applyChaosTable(ex: Executor, at: InNetns, i: Impairment): Promise<void> {
  await ex.nftApply(renderChaosTable(i), at);
}

export interface LinkImpairment {
  lossPercent: number;
  delayMs: number;
  jitterMs: number;
}

/** How a link impairment was applied: by netem, or by nftables with what was left out. */
export interface ImpairResult {
  via: "netem" | "nftables";
  /** Parts that could not be applied, with the reason (delay without netem). */
  unavailable: string[];
}

/**
 * Loss and delay on the node's underlay link: netem when the kernel has it, else loss by
 * nftables (`withNftLoss` applies it: it owns the node's chaos table) and no delay.
 */
export async function impairLink(
  ex: Executor,
  at: InNetns,
  want: LinkImpairment,
  withNftLoss: (lossPercent: number) => Promise<void>,
): Promise<ImpairResult> {
  const args = ["qdisc", "replace", "dev", UNDERLAY_DEV, "root", "netem"];
  if (want.lossPercent > 0) args.push("loss", `${want.lossPercent}%`);
  if (want.delayMs > 0)
    args.push("delay", `${want.delayMs}ms`, ...(want.jitterMs > 0 ? [`${want.jitterMs}ms`] : []));
  try {
    await ex.tc(args, at);
    return { via: "netem", unavailable: [] };
  } catch (err) {
    if (!isSwarmnetError(err, ErrorCode.KernelUnsupported) && !isSwarmnetError(err, ErrorCode.ToolMissing))
      throw err;
    await withNftLoss(want.lossPercent);
    const reason = `this kernel has no netem (${err.message.replace(/^.*: /, "")})`;
    return { via: "nftables", unavailable: want.delayMs > 0 ? [`delay ${want.delayMs}ms: ${reason}`] : [] };
  }
}

/** Removes a netem qdisc if there is one (the default qdisc comes back). */
export async function clearLink(ex: Executor, at: InNetns): Promise<void> {
  try {
    await ex.tc(["qdisc", "del", "dev", UNDERLAY_DEV, "root"], at);
  } catch {
    // no root qdisc of ours, or no tc at all: nothing to remove
  }
}

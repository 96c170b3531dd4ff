/**
 * What the VM test group shares: whether this run is the full group, the check that this
 * machine can run VMs at all, and the bounds sized for emulation.
 *
 * Two sizes, because one boot of a VM lab costs minutes under TCG on a shared 2-core
 * machine and the whole suite has a 30-minute budget:
 *   smoke (default, `deploy/test.sh`)  vm-lab.test.ts: one lab, n1 a namespace manager
 *                                      and two VM workers — joins, probe, kernel ESP and
 *                                      a ping over an encrypted overlay, then between the
 *                                      two VM agents' tasks the kernel-ESP acceptance
 *                                      checks (kernel-esp-live.ts: only ESP on the
 *                                      underlay, the plaintext guard, forced key rotations
 *                                      losing nothing), exec, devices confined, the IPVS
 *                                      mesh, local drivers, chaos netem (chaos-netem.ts),
 *                                      a second lab (one bare VM) up and down beside it,
 *                                      `lab down` after `kill -9` of a qemu — plus the
 *                                      bad-input cases (no boot at all), and on a lab of
 *                                      its own (two bare VMs) the Vagrant provisioning
 *                                      scripts (vagrant-provision.ts)
 *   full (`SWARMNET_VM_FULL=1`)        also, on the same lab: the whole kernel-ESP
 *                                      acceptance scenario run inside a VM with Node under
 *                                      emulation (kernel-esp.ts: tens of minutes) and the
 *                                      restart of a VM agent
 *
 * Where the machine truly cannot run VMs (not root, or no /dev/net/tun for the taps) the
 * group skips and says why on the console; a missing qemu or kernel is not that — the
 * suite's `install.sh --test` installs both — and fails with what to install.
 */
import { existsSync } from "node:fs";
import { cachedKernelVersions, KERNEL_PACKAGE } from "../../deploy/vm/kernel-cache.js";
import { checkVmTools } from "../../deploy/vm/machine.js";
import type { LabCli } from "../support/lab-cli.js";
import { isRoot } from "../support/netns.js";

/** `SWARMNET_VM_FULL=1` runs the whole VM group; otherwise only the smoke group. */
export const VM_FULL = process.env["SWARMNET_VM_FULL"] === "1";

/** Up to this long for the VMs to boot and their agents to join, on a loaded 2-core machine. */
export const VM_LAB_UP_TIMEOUT_MS = 1_500_000;

/** Skips the suite with its reason printed (mocha's own skip says nothing). */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/**
 * Skips (saying why) where this machine cannot run VM nodes; throws where it could but
 * something `deploy/install.sh --test` installs is missing.
 */
export function requireVmHost(ctx: Mocha.Context): void {
  if (!isRoot) skipBecause(ctx, "VM nodes need root (taps, namespaces)");
  if (!existsSync("/dev/net/tun")) skipBecause(ctx, "no /dev/net/tun: this machine cannot give a VM a tap");
  checkVmTools();
  if (cachedKernelVersions().length === 0) {
    throw new Error(`no cached ${KERNEL_PACKAGE} kernel for VM nodes: run deploy/install.sh --test`);
  }
}

/**
 * The encrypted overlay the smoke group creates (vm-lab.test.ts, "encrypted overlay between
 * VM agents", with a global service `s` on it) and kernel-esp-live.ts goes on using: its
 * name and the first three octets of its /24.
 */
export const VM_ENCRYPTED_NETWORK = { name: "enc1", subnet: "10.77.0." } as const;

/** A task's namespace in a VM node's guest and its address on an overlay. */
export interface VmTask {
  netns: string;
  ip: string;
}

/**
 * The (first) task on VM node `node` with an address in `subnet` (the first three octets
 * and a dot, "10.77.0."), looked at with the guest's own `ip`; undefined while there is none.
 */
export async function findTask(cli: LabCli, node: string, subnet: string): Promise<VmTask | undefined> {
  const list = await cli.exec(node, "ip", "netns", "list");
  const pattern = new RegExp(`^(sn-${cli.lab}-${node}-c-\\S+)`, "gm");
  for (const [, netns] of list.stdout.matchAll(pattern)) {
    if (netns === undefined) continue;
    const addr = await cli.exec(node, "ip", "-n", netns, "-4", "-o", "addr", "show");
    const ip = new RegExp(`inet (${subnet.replace(/\./g, "\\.")}\\d+)/`).exec(addr.stdout)?.[1];
    if (ip !== undefined) return { netns, ip };
  }
  return undefined;
}

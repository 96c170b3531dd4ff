/**
 * The VM node kind of the lab (`lab up --vm`): which nodes are VMs, their taps on the
 * underlay bridge, booting them (qemu + control relay, both inside the lab's underlay
 * namespace) and waiting until every guest daemon answers. The machine itself is
 * deploy/vm/machine.ts; the guest side deploy/vm/initramfs.ts and guest-daemon.ts.
 *
 * Paths inside a VM: the lab's folder is shared at the same path (config, logs and the
 * `swarmnet` shim are where a namespace node has them); the agent's state dir, its
 * control socket and etcd's data live in the guest's own tmpfs (`GUEST_STATE_DIR`),
 * because unix sockets, device nodes and fsync-heavy etcd do not belong on 9p.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { Executor } from "../../common/executor.js";
import { isAlive } from "../../common/process.js";
import { GuestClient } from "../vm/guest-client.js";
import { buildInitramfs } from "../vm/initramfs.js";
import { resolveKernel, type CachedKernel } from "../vm/kernel-cache.js";
import {
  checkVmTools,
  qemuArgv,
  qemuControlSocket,
  relaySocket,
  vmMac,
  VM_DEFAULTS,
  type VmConfig,
} from "../vm/machine.js";
import { UNDERLAY_PREFIX, type LabLayout, type LabNode } from "./layout.js";
import { labDir, nodeDir } from "./state.js";

/** The agent's state dir inside a VM (guest tmpfs): also holds agent.sock and etcd's data. */
export const GUEST_STATE_DIR = "/var/lib/swarmnet";

const GUEST_DAEMON = fileURLToPath(new URL("../vm/guest-daemon.js", import.meta.url));
const CTL_RELAY = fileURLToPath(new URL("../vm/ctl-relay.js", import.meta.url));
/** Boot to a daemon answering: ~12 s alone under TCG, several at once on 2 loaded cores far more. */
const BOOT_TIMEOUT_MS = 240_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What `lab up --vm` recorded about the lab's VMs. */
export interface LabVmState {
  /** Names of the nodes that are VMs. */
  nodes: string[];
  kernel: string;
  memoryMb: number;
  cpus: number;
}

/**
 * Which nodes `--vm [LIST]` makes VMs: every node for a bare `--vm` (true), else the
 * comma-separated names, each an existing node.
 */
export function parseVmNodes(spec: string | true, nodeCount: number): string[] {
  const all = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  if (spec === true) return all;
  const names = spec.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!all.includes(n)) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `--vm names ${JSON.stringify(n)}, which is not a node of this lab (n1…n${nodeCount})`,
      );
    }
  }
  return [...new Set(names)];
}

/** Checks tools and the kernel before anything is built: the one-line errors of bad input. */
export function prepareVms(kernelVersion: string | undefined): CachedKernel {
  checkVmTools();
  return resolveKernel(kernelVersion);
}

export function controlSocket(lab: string, node: string): string {
  return relaySocket(nodeDir(lab, node));
}

/** `ip -batch` lines, in the underlay namespace, for the VMs' taps on br0. */
export function tapLines(vmNodes: readonly LabNode[]): string[] {
  return vmNodes.flatMap((n) => {
    return [
      `tuntap add dev ${n.underlayPort} mode tap`,
      `link set ${n.underlayPort} master br0`,
      `link set ${n.underlayPort} up`,
    ];
  });
}

export interface BootedProcess {
  node: string;
  kind: "qemu" | "vmctl";
  pid: number;
  argv: string[];
}

/**
 * Starts every VM of the lab at once (qemu, then its control relay, both detached in the
 * underlay namespace), reports each process through `started` as soon as it exists (so a
 * failure later still finds it), and waits until every guest daemon answers.
 */
export async function bootVms(
  ex: Executor,
  layout: LabLayout,
  vmNodes: readonly LabNode[],
  kernel: CachedKernel,
  config: VmConfig,
  started: (p: BootedProcess) => void,
): Promise<void> {
  const dir = join(labDir(layout.name), "vm");
  const initramfs = join(dir, "initramfs.cpio");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    initramfs,
    buildInitramfs({ kernel, labDir: labDir(layout.name), daemonArgv: [process.execPath, GUEST_DAEMON] }),
  );
  const qemus: { node: LabNode; pid: number }[] = [];
  for (const node of vmNodes) {
    const ndir = nodeDir(layout.name, node.name);
    const argv = qemuArgv({
      lab: layout.name,
      node: node.name,
      addressCidr: `${node.address}/${UNDERLAY_PREFIX}`,
      tap: node.underlayPort,
      mac: vmMac(Number(node.name.slice(1))),
      labDir: labDir(layout.name),
      nodeDir: ndir,
      kernel,
      initramfs,
      config,
    });
    const env = { SWARMNET_LAB: layout.name };
    const qemu = ex.startDetached(argv, {
      netns: layout.underlayNetns,
      logFile: join(ndir, "qemu.log"),
      env,
    });
    started({ node: node.name, kind: "qemu", pid: qemu.pid, argv });
    qemus.push({ node, pid: qemu.pid });
    const relayArgv = [process.execPath, CTL_RELAY, qemuControlSocket(ndir), relaySocket(ndir)];
    const relay = ex.startDetached(relayArgv, {
      netns: layout.underlayNetns,
      logFile: join(ndir, "vmctl.log"),
      env,
    });
    started({ node: node.name, kind: "vmctl", pid: relay.pid, argv: relayArgv });
  }
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  const waiting = new Set(vmNodes.map((n) => n.name));
  while (waiting.size > 0) {
    for (const { node, pid } of qemus) {
      if (!waiting.has(node.name)) continue;
      if (!isAlive(pid)) {
        const ndir = nodeDir(layout.name, node.name);
        throw new SwarmnetError(
          ErrorCode.Unavailable,
          `VM ${node.name} stopped while booting (see ${join(ndir, "qemu.log")} and ${join(ndir, "console.log")})`,
        );
      }
      if (await new GuestClient(controlSocket(layout.name, node.name)).ready()) waiting.delete(node.name);
    }
    if (waiting.size === 0) break;
    if (Date.now() > deadline) {
      throw new SwarmnetError(ErrorCode.Timeout, `VMs did not boot in time: ${[...waiting].join(", ")}`);
    }
    await sleep(500);
  }
}

export { VM_DEFAULTS, type VmConfig };

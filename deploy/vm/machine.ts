/**
 * One VM node of a lab: the qemu command line and what it needs.
 *
 *   qemu (TCG, Debian's kernel via PVH, our initramfs)
 *     ├─ virtio-net on tap `vm-<node>` — created beforehand inside the lab's underlay
 *     │  namespace and enslaved to its bridge; qemu runs in that namespace too, so
 *     │  nothing of the VM is ever in the host namespace (and `lab down` deleting the
 *     │  namespace removes the tap even after `kill -9` of qemu)
 *     ├─ 9p `hostroot` = / read-only, 9p `lab` = the lab's folder read-write
 *     └─ virtio-serial port `swarmnet.ctl` ↔ unix socket ← ctl-relay.ts ← host clients
 *
 * Tap names live inside the lab's own underlay namespace, so they need no lab prefix
 * (and IFNAMSIZ leaves no room for one); the VM's qemu process carries
 * `-name sn-<lab>-<node>`. The serial console goes to `console.log` in the node's folder.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { findOnPath } from "../../common/process.js";
import { BUSYBOX } from "./initramfs.js";
import type { CachedKernel } from "./kernel-cache.js";

export interface VmConfig {
  /** Guest memory. */
  memoryMb: number;
  /** Virtual CPUs. */
  cpus: number;
  /** TCG translation cache size. */
  tbSizeMb: number;
}

export const VM_DEFAULTS: VmConfig = {
  // Measured: a guest running the agent, manager and etcd uses ~200 MB; qemu's RSS is
  // ~340 MB with -m 512 against ~590 MB with -m 2048 (VM-NOTES.md). 512 leaves room for
  // containers and a Node CLI at once without taxing a machine shared by several labs.
  memoryMb: 512,
  // TCG runs one host thread per vCPU; the machine has 2 cores shared with everything else.
  cpus: 1,
  // The default (1 GiB with -accel tcg on a big-memory host) only costs RSS here.
  tbSizeMb: 128,
};

/** Debian packages behind each tool, named in the error when one is missing. */
const TOOLS: { program: string; pkg: string }[] = [
  { program: "qemu-system-x86_64", pkg: "qemu-system-x86" },
  { program: BUSYBOX, pkg: "busybox-static" },
  { program: "modprobe", pkg: "kmod" },
];

/** The qemu binary ($SWARMNET_QEMU overrides, e.g. to point at another build). */
export function qemuBinary(): string {
  return process.env["SWARMNET_QEMU"] ?? "qemu-system-x86_64";
}

/** Throws naming the Debian package when a tool VM nodes need is missing. */
export function checkVmTools(): void {
  for (const { program, pkg } of TOOLS) {
    const name = program === "qemu-system-x86_64" ? qemuBinary() : program;
    const found = name.startsWith("/") ? (existsSync(name) ? name : undefined) : findOnPath(name);
    if (found === undefined) {
      throw new SwarmnetError(
        ErrorCode.ToolMissing,
        `${name} is not installed: VM nodes need Debian package ${pkg} (deploy/install.sh --test installs it)`,
      );
    }
  }
}

export interface VmSpec {
  lab: string;
  node: string;
  /** Underlay address with prefix, e.g. 100.64.1.2/16. */
  addressCidr: string;
  tap: string;
  mac: string;
  labDir: string;
  nodeDir: string;
  kernel: CachedKernel;
  initramfs: string;
  config: VmConfig;
}

/** A locally administered MAC from the node's index (labs are separate L2 segments). */
export function vmMac(index: number): string {
  return `52:54:00:5e:${((index >> 8) & 0xff).toString(16).padStart(2, "0")}:${(index & 0xff).toString(16).padStart(2, "0")}`;
}

export function qemuControlSocket(nodeDir: string): string {
  return join(nodeDir, "qemu-ctl.sock");
}

export function relaySocket(nodeDir: string): string {
  return join(nodeDir, "ctl.sock");
}

export function qemuArgv(spec: VmSpec): string[] {
  const c = spec.config;
  return [
    qemuBinary(),
    "-name",
    `sn-${spec.lab}-${spec.node}`,
    "-accel",
    `tcg,tb-size=${c.tbSizeMb}`,
    "-cpu",
    "max",
    "-m",
    String(c.memoryMb),
    "-smp",
    String(c.cpus),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-vga",
    "none",
    "-monitor",
    "none",
    "-serial",
    `file:${join(spec.nodeDir, "console.log")}`,
    "-no-reboot",
    "-kernel",
    spec.kernel.vmlinux,
    "-initrd",
    spec.initramfs,
    "-append",
    `console=ttyS0 panic=-1 quiet snnode=${spec.node} snaddr=${spec.addressCidr}`,
    "-virtfs",
    "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    "-virtfs",
    `local,path=${spec.labDir},mount_tag=lab,security_model=none,multidevs=remap`,
    "-netdev",
    `tap,id=u0,ifname=${spec.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=u0,mac=${spec.mac},romfile=`,
    "-device",
    "virtio-serial-pci",
    "-chardev",
    `socket,id=ctl,path=${qemuControlSocket(spec.nodeDir)},server=on,wait=off`,
    "-device",
    "virtserialport,chardev=ctl,name=swarmnet.ctl",
  ];
}

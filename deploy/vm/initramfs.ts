/**
 * The VM nodes' initramfs: busybox-static, the modules needed to reach the real root, and
 * one /init script. Nothing else: the root the guest runs is the host's own filesystem,
 * shared read-only over 9p (so the guest has the host's node, ip, nft, etcd and this
 * project's dist/) with a tmpfs overlay on top for writes that stay in the guest.
 *
 * /init, in order: mount /proc, /sys, /dev; insmod the modules (virtio PCI, 9p, overlay,
 * virtio-net, virtio-console, tun, in dependency order from modules.dep); mount the host root
 * (`hostroot` tag) read-only and an overlay over it; mount the guest's own /proc, /sys,
 * /dev, /dev/pts and /run inside it (the 9p view shows the host's); /tmp stays the
 * overlay's — the host's, its writes kept in the guest — because a checkout under /tmp
 * (a CI runner's, a snapshot) must run in the guest too; mount the lab's
 * folder (`lab` tag, read-write) at the same path as on the host, so config files, logs
 * and the node's state dir are shared; bind the cached kernel's modules over
 * /lib/modules/<version> (modprobe in the guest then works, and the kernel autoloads);
 * name the host, address eth0 on the underlay; write an inittab and switch_root into
 * busybox init, which respawns the guest daemon (`guest-daemon.ts`) and reaps orphans.
 *
 * Per-node values come from the kernel command line (words without a dot reach init as
 * environment variables): `snnode=n2 snaddr=100.64.1.2/16`. Everything else is baked in,
 * so one initramfs serves every VM of a lab.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { writeCpio, type CpioEntry } from "./cpio.js";
import type { CachedKernel } from "./kernel-cache.js";

/** Modules /init loads (their dependencies come along). */
export const INITRAMFS_MODULES = [
  "virtio_pci",
  "9pnet_virtio",
  "9p",
  "overlay",
  "virtio_net",
  "virtio_console",
  // Only a loaded tun creates /dev/net/tun, and nothing else in the guest would load it
  // (no udev, no `kmod static-nodes`): without it the probe reports no tuntap.
  "tun",
] as const;

/** busybox-static's binary; its applets (sh, mount, insmod, ip, switch_root, init) do it all. */
export const BUSYBOX = "/bin/busybox";

export interface InitramfsInput {
  kernel: CachedKernel;
  /** The lab's folder on the host, shared with the guest at the same path. */
  labDir: string;
  /** The command busybox init respawns: the guest daemon. */
  daemonArgv: readonly string[];
  busybox?: string;
}

/**
 * Module files (relative to the modules dir) to load for `wanted`, dependencies first,
 * from modules.dep (`kernel/fs/9p/9p.ko: kernel/fs/netfs/netfs.ko …`).
 */
export function moduleLoadOrder(modulesDep: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split("\n")) {
    const [file, rest] = line.split(":");
    if (file === undefined || rest === undefined) continue;
    deps.set(file, rest.trim() === "" ? [] : rest.trim().split(/\s+/));
    byName.set(basename(file, ".ko").replace(/-/g, "_"), file);
  }
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    for (const d of deps.get(file) ?? []) visit(d);
    order.push(file);
  };
  for (const name of wanted) {
    const file = byName.get(name.replace(/-/g, "_"));
    if (file === undefined) {
      throw new SwarmnetError(ErrorCode.NotFound, `kernel module ${name} is not in modules.dep`);
    }
    visit(file);
  }
  return order;
}

/** The /init script (busybox sh). */
export function initScript(input: {
  kernelVersion: string;
  modulesDir: string;
  labDir: string;
  daemonArgv: readonly string[];
}): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const daemon = input.daemonArgv.join(" ");
  return `#!/bin/sh
# swarmnet VM node init (deploy/vm/initramfs.ts): host root over 9p + tmpfs overlay.
export PATH=/bin
fail() { echo "swarmnet-vm init: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules); do insmod "/modules/$m" || fail "insmod $m"; done
mkdir -p /lower /rw /newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower || fail "no host root over 9p"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $R/run
mkdir -p $R${q(input.labDir)}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 lab $R${q(input.labDir)} || fail "no lab folder over 9p"
mkdir -p $R/lib/modules/${input.kernelVersion}
mount --bind $R${q(input.modulesDir)} $R/lib/modules/${input.kernelVersion} || fail "no modules"
hostname "$snnode"
echo "$snnode" > $R/etc/hostname
ip link set lo up
ip addr add "$snaddr" dev eth0 && ip link set eth0 up || fail "eth0"
cat > $R/etc/inittab <<INITTAB
::sysinit:/bin/busybox echo "swarmnet-vm: $snnode up"
::respawn:${daemon}
INITTAB
exec switch_root $R ${BUSYBOX} init
`;
}

/** The whole archive, ready for qemu's -initrd. */
export function buildInitramfs(input: InitramfsInput): Buffer {
  const { kernel } = input;
  const order = moduleLoadOrder(
    readFileSync(join(kernel.modulesDir, "modules.dep"), "utf8"),
    INITRAMFS_MODULES,
  );
  const entries: CpioEntry[] = [
    ...["bin", "dev", "etc", "proc", "sys", "modules"].map((path) => ({ kind: "dir" as const, path })),
    { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    { kind: "file", path: "bin/busybox", data: readFileSync(input.busybox ?? BUSYBOX), mode: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    ...["mount", "insmod", "mkdir", "cat", "ip", "hostname", "switch_root", "poweroff", "echo"].map(
      (applet) => ({ kind: "symlink" as const, path: `bin/${applet}`, target: "busybox" }),
    ),
    {
      kind: "file",
      path: "init",
      mode: 0o755,
      data: Buffer.from(
        initScript({
          kernelVersion: kernel.version,
          modulesDir: kernel.modulesDir,
          labDir: input.labDir,
          daemonArgv: input.daemonArgv,
        }),
      ),
    },
    { kind: "file", path: "etc/modules", data: Buffer.from(order.map((f) => basename(f)).join("\n") + "\n") },
    ...order.map((f) => ({
      kind: "file" as const,
      path: `modules/${basename(f)}`,
      data: readFileSync(join(kernel.modulesDir, f)),
    })),
  ];
  return writeCpio(entries);
}

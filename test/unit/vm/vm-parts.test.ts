/** The VM lab's pure parts: the cpio writer, module load order, framing, the kernel cache, --vm parsing. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseVmNodes } from "../../../deploy/lab/vm-nodes.js";
import { writeCpio } from "../../../deploy/vm/cpio.js";
import {
  LinkFrame,
  SessionFrame,
  linkFrame,
  linkReader,
  sessionFrame,
  sessionReader,
} from "../../../deploy/vm/frames.js";
import { initScript, moduleLoadOrder } from "../../../deploy/vm/initramfs.js";
import { cachedKernelVersions, resolveKernel } from "../../../deploy/vm/kernel-cache.js";
import { qemuArgv, vmMac, VM_DEFAULTS } from "../../../deploy/vm/machine.js";

/** Reads a newc archive back: [name, mode, data] per entry, up to the trailer. */
function readCpio(buf: Buffer): [string, number, Buffer][] {
  const out: [string, number, Buffer][] = [];
  let off = 0;
  const field = (i: number) => parseInt(buf.subarray(off + 6 + i * 8, off + 14 + i * 8).toString(), 16);
  for (;;) {
    assert.equal(buf.subarray(off, off + 6).toString(), "070701");
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.subarray(off + 110, off + 110 + nameSize - 1).toString();
    let p = off + 110 + nameSize;
    p += (4 - (p % 4)) % 4;
    if (name === "TRAILER!!!") return out;
    out.push([name, mode, buf.subarray(p, p + size)]);
    p += size;
    p += (4 - (p % 4)) % 4;
    off = p;
  }
}

describe("VM lab parts", () => {
  it("writes a newc cpio the kernel can unpack: names, modes, data, 4-byte alignment", () => {
    const buf = writeCpio([
      { kind: "dir", path: "bin" },
      { kind: "file", path: "bin/x", data: Buffer.from("hello"), mode: 0o755 },
      { kind: "symlink", path: "bin/sh", target: "x" },
      { kind: "chardev", path: "console", major: 5, minor: 1 },
    ]);
    assert.equal(buf.length % 4, 0);
    const entries = readCpio(buf);
    assert.deepEqual(
      entries.map(([n, m, d]) => [n, m.toString(8), d.toString()]),
      [
        ["bin", "40755", ""],
        ["bin/x", "100755", "hello"],
        ["bin/sh", "120777", "x"],
        ["console", "20600", ""],
      ],
    );
  });

  it("orders modules dependencies first, each once, from modules.dep", () => {
    const dep = [
      "kernel/fs/9p/9p.ko: kernel/fs/netfs/netfs.ko kernel/net/9p/9pnet.ko",
      "kernel/fs/netfs/netfs.ko:",
      "kernel/net/9p/9pnet.ko:",
      "kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/net/9p/9pnet.ko",
      "kernel/drivers/virtio/virtio.ko:",
    ].join("\n");
    assert.deepEqual(moduleLoadOrder(dep, ["9pnet_virtio", "9p"]), [
      "kernel/drivers/virtio/virtio.ko",
      "kernel/net/9p/9pnet.ko",
      "kernel/net/9p/9pnet_virtio.ko",
      "kernel/fs/netfs/netfs.ko",
      "kernel/fs/9p/9p.ko",
    ]);
    assert.throws(() => moduleLoadOrder(dep, ["nope"]), /kernel module nope is not in modules.dep/);
  });

  it("bakes the lab folder, modules and daemon into /init; per-node values stay on the command line", () => {
    const text = initScript({
      kernelVersion: "6.1.0-9-amd64",
      modulesDir: "/c/kernels/6.1.0-9-amd64/lib/modules/6.1.0-9-amd64",
      labDir: "/run/swarmnet/lab/x",
      daemonArgv: ["/usr/bin/node", "/d/guest-daemon.js"],
    });
    assert.match(text, /mount -t 9p .* lab \$R'\/run\/swarmnet\/lab\/x'/);
    assert.match(text, /::respawn:\/usr\/bin\/node \/d\/guest-daemon.js/);
    assert.match(text, /ip addr add "\$snaddr" dev eth0/);
  });

  it("frames sessions and the link, whatever the chunking", () => {
    const s = Buffer.concat([
      sessionFrame(SessionFrame.Request, '{"op":"alive","pids":[]}'),
      sessionFrame(SessionFrame.StdinEof),
    ]);
    const r = sessionReader();
    const got = [...s].flatMap((byte) => r.push(Buffer.from([byte])));
    assert.deepEqual(
      got.map((f) => [f.kind, f.payload.toString()]),
      [
        [SessionFrame.Request, '{"op":"alive","pids":[]}'],
        [SessionFrame.StdinEof, ""],
      ],
    );
    const l = linkReader();
    const frames = l.push(Buffer.concat([linkFrame(7, LinkFrame.Data, s), linkFrame(7, LinkFrame.Close)]));
    assert.deepEqual(
      frames.map((f) => [f.session, f.kind, f.payload.length]),
      [
        [7, LinkFrame.Data, s.length],
        [7, LinkFrame.Close, 0],
      ],
    );
    const bad = Buffer.alloc(9);
    bad.writeUInt32BE(0xffffffff, 5);
    assert.throws(() => linkReader().push(bad), /exceeds/);
  });

  it("finds complete cached kernels newest first and names the package when there is none", () => {
    const root = mkdtempSync(join(tmpdir(), "snvm-"));
    try {
      assert.throws(() => resolveKernel(undefined, root), /no Debian kernel .*package linux-image-amd64/);
      for (const v of ["6.1.0-9-amd64", "6.1.0-57-amd64", "6.1.0-60-amd64"]) {
        mkdirSync(join(root, "kernels", v), { recursive: true });
        if (v !== "6.1.0-60-amd64") writeFileSync(join(root, "kernels", v, ".complete"), "");
      }
      assert.deepEqual(cachedKernelVersions(root), ["6.1.0-57-amd64", "6.1.0-9-amd64"]);
      assert.equal(resolveKernel(undefined, root).version, "6.1.0-57-amd64");
      assert.match(resolveKernel("6.1.0-9-amd64", root).vmlinux, /boot\/vmlinux-6.1.0-9-amd64$/);
      assert.throws(
        () => resolveKernel("6.1.0-60-amd64", root),
        /unknown kernel version "6.1.0-60-amd64": the VM lab has 6.1.0-57-amd64, 6.1.0-9-amd64/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("parses --vm: bare means every node, a list must name nodes of the lab", () => {
    assert.deepEqual(parseVmNodes(true, 3), ["n1", "n2", "n3"]);
    assert.deepEqual(parseVmNodes("n3,n2,n3", 3), ["n3", "n2"]);
    assert.throws(() => parseVmNodes("n4", 3), /--vm names "n4", which is not a node of this lab \(n1…n3\)/);
  });

  it("builds a qemu command that keeps the VM's devices to the lab: tap by name, sockets in the node folder", () => {
    const argv = qemuArgv({
      lab: "a",
      node: "n2",
      addressCidr: "100.64.1.2/16",
      tap: "vm-n2",
      mac: vmMac(2),
      labDir: "/run/swarmnet/lab/a",
      nodeDir: "/run/swarmnet/lab/a/n2",
      kernel: { version: "v", vmlinux: "/k/vmlinux", modulesDir: "/k/m" },
      initramfs: "/run/swarmnet/lab/a/vm/initramfs.cpio",
      config: VM_DEFAULTS,
    }).join(" ");
    assert.match(argv, /-netdev tap,id=u0,ifname=vm-n2,script=no,downscript=no/);
    assert.match(argv, /mac=52:54:00:5e:00:02,romfile=/);
    assert.match(argv, /path=\/run\/swarmnet\/lab\/a\/n2\/qemu-ctl.sock,server=on,wait=off/);
    assert.match(argv, /snnode=n2 snaddr=100.64.1.2\/16/);
    assert.doesNotMatch(argv, /-netdev user|hostfwd/);
  });
});

/**
 * The VM lab on the real kernel (qemu TCG booting Debian's kernel): one mixed lab for the
 * whole group — n1 a namespace manager, n2 and n3 VM workers — reused by every test here
 * and by the other VM tests' files, to keep boots few. A second lab with one VM comes up
 * at the same time to show two labs coexist. Both are taken down in `after`, whatever
 * happened; the last test shows a `lab down` after `kill -9` of a qemu leaves nothing.
 *
 * Skipped (with the reason) where the VM packages are missing: deploy/install.sh --test installs
 * them, so CI runs this group.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { Executor } from "../../common/executor.js";
import { labDir } from "../../deploy/lab/state.js";
import { cachedKernelVersions } from "../../deploy/vm/kernel-cache.js";
import { swarmnet } from "../support/cli.js";
import { LabCli } from "../support/lab-cli.js";
import { isRoot, labNamespaces, labProcesses, uniqueLabName } from "../support/netns.js";
import { VM_LAB_UP_TIMEOUT_MS, vmLabReady } from "./support.js";

interface StatusRow {
  name: string;
  role: string;
  agent: boolean | null;
  manager: boolean | null;
  etcd: boolean | null;
  kind: string;
}

async function status(lab: string): Promise<StatusRow[]> {
  const r = await swarmnet(["lab", "status", "--name", lab, "--format", "json"]);
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusRow[];
}

function statePids(lab: string, kind: string): { node: string; pid: number }[] {
  const state = JSON.parse(readFileSync(`${labDir(lab)}/state.json`, "utf8")) as {
    processes: { node: string; kind: string; pid: number }[];
  };
  return state.processes.filter((p) => p.kind === kind);
}

describe("VM lab (qemu, Debian kernel)", function () {
  const ex = new Executor();
  const main = vmLabReady();
  const second = uniqueLabName();
  let cli: LabCli;
  let secondUp: Promise<{ exitCode: number; stderr: string }>;

  before(async function () {
    this.timeout(VM_LAB_UP_TIMEOUT_MS);
    if (!isRoot || cachedKernelVersions().length === 0) this.skip();
    // The second lab boots while the first does: two labs at once is the point.
    // A namespace manager and one VM running only an agent: the lightest lab with a VM.
    const args = ["lab", "up", "--name", second, "--nodes", "2", "--vm", "n2", "--no-init"];
    secondUp = swarmnet(args, {}, VM_LAB_UP_TIMEOUT_MS);
    cli = new LabCli(await main.lab());
  });

  after(async function () {
    this.timeout(120_000);
    if (isRoot) await swarmnet(["lab", "down", "--name", second]);
  });

  it("mixes a namespace manager and two VM workers, every process up", async () => {
    const rows = await status(cli.lab);
    assert.deepEqual(
      rows.map((r) => [r.name, r.role, r.kind]),
      [
        ["n1", "manager", "netns"],
        ["n2", "worker", "vm"],
        ["n3", "worker", "vm"],
        ["client", "client", "netns"],
      ],
    );
    assert.ok(rows.filter((r) => r.role !== "client").every((r) => r.agent === true));
    assert.equal(rows[0]?.etcd, true);
  });

  it("runs commands in a VM: Debian's kernel, exit codes, stdout and stderr apart", async () => {
    const uname = await cli.exec("n2", "uname", "-r");
    assert.equal(uname.exitCode, 0, uname.stderr);
    assert.equal(uname.stdout.trim(), cachedKernelVersions()[0]);
    const r = await cli.exec("n3", "sh", "-c", "echo out; echo err >&2; exit 7");
    assert.equal(r.exitCode, 7);
    assert.equal(r.stdout.trim(), "out");
    assert.equal(r.stderr.trim(), "err");
    const missing = await cli.exec("n3", "no-such-program");
    assert.notEqual(missing.exitCode, 0);
  });

  it("joins VMs to the lab's underlay: VM to namespace node, client to VM, VM to VM", async () => {
    for (const [from, to] of [
      ["n2", "100.64.1.1"],
      ["client", "100.64.1.2"],
      ["n3", "100.64.1.2"],
    ] as const) {
      const r = await cli.exec(from, "ping", "-c1", "-W5", to);
      assert.equal(r.exitCode, 0, `${from} -> ${to}: ${r.stdout}${r.stderr}`);
    }
  });

  it("keeps every VM device inside the lab: no tap, qemu socket or route in the host namespace", async () => {
    const hostLinks = await ex.ipJson<{ ifname: string }>(["link", "show"]);
    assert.ok(!hostLinks.some((l) => l.ifname.startsWith("vm-")), "no tap in the host namespace");
    const taps = await ex.ipJson<{ ifname: string; master?: string }>(["link", "show"], {
      netns: `sn-${cli.lab}-u`,
    });
    assert.deepEqual(
      taps.filter((l) => l.ifname.startsWith("vm-")).map((l) => [l.ifname, l.master]),
      [
        ["vm-n2", "br0"],
        ["vm-n3", "br0"],
      ],
    );
  });

  it("the VM's agent probes the kernel features this host lacks", async () => {
    const r = await cli.sx("n2", "node", "inspect", "n2");
    assert.equal(r.exitCode, 0, r.stderr);
    type View = { Description: { Capabilities: { Name: string; Available: boolean }[] } };
    const [node] = JSON.parse(r.stdout) as View[];
    const available = new Set(node?.Description.Capabilities.filter((c) => c.Available).map((c) => c.Name));
    for (const f of ["esp_aes_gcm", "ipvs", "vlan_8021q", "ipvlan", "wireguard"]) {
      assert.ok(available.has(f), `${f} available in the VM`);
    }
  });

  it("restarts a VM node's agent like a namespace node's", async () => {
    const before = statePids(cli.lab, "agent").find((p) => p.node === "n3")?.pid;
    const r = await swarmnet(["lab", "restart", "--name", cli.lab, "n3"]);
    assert.equal(r.exitCode, 0, r.stderr);
    const after = statePids(cli.lab, "agent").find((p) => p.node === "n3")?.pid;
    assert.notEqual(after, before);
    assert.equal((await status(cli.lab)).find((s) => s.name === "n3")?.agent, true);
  });

  it("runs a second VM lab beside the first, and takes it down without touching the first", async function () {
    this.timeout(900_000);
    const up = await secondUp;
    assert.equal(up.exitCode, 0, up.stderr);
    const rows = await status(second);
    assert.equal(rows.find((r) => r.name === "n2")?.kind, "vm");
    assert.equal(rows.find((r) => r.name === "n2")?.agent, true);
    const down = await swarmnet(["lab", "down", "--name", second]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(await labNamespaces(ex, second), []);
    assert.deepEqual(labProcesses(second), []);
    assert.equal(existsSync(labDir(second)), false);
    const still = await cli.exec("n2", "true");
    assert.equal(still.exitCode, 0, "the first lab's VMs still answer");
  });

  it("after kill -9 of a qemu, status says so and lab down leaves nothing", async function () {
    this.timeout(300_000);
    const qemu = statePids(cli.lab, "qemu").find((p) => p.node === "n3");
    assert.ok(qemu !== undefined);
    process.kill(qemu.pid, "SIGKILL");
    const rows = await status(cli.lab);
    assert.equal(rows.find((r) => r.name === "n3")?.agent, false);
    assert.equal(rows.find((r) => r.name === "n2")?.agent, true);
    await main.down();
    assert.deepEqual(await labNamespaces(ex, cli.lab), []);
    assert.deepEqual(labProcesses(cli.lab), []);
    assert.equal(existsSync(labDir(cli.lab)), false);
  });
});

describe("VM lab bad input", function () {
  const ex = new Executor();
  const lab = uniqueLabName();

  before(function () {
    if (!isRoot) this.skip();
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", lab]);
  });

  const cases: [string, string[], Record<string, string>, RegExp][] = [
    [
      "qemu missing",
      ["--vm"],
      { SWARMNET_QEMU: "qemu-system-x86_64-absent" },
      /not installed: VM nodes need Debian package qemu-system-x86/,
    ],
    [
      "no kernel fetched",
      ["--vm"],
      { SWARMNET_VM_CACHE: "/nonexistent/swarmnet-vm" },
      /no Debian kernel for VM nodes .*package linux-image-amd64/,
    ],
    [
      "an unknown kernel version",
      ["--vm", "--kernel", "9.9.9-bogus"],
      {},
      /unknown kernel version "9.9.9-bogus"/,
    ],
    ["--nodes 0", ["--vm", "--nodes", "0"], {}, /--nodes must be a whole number from 1/],
    [
      "a VM node that is not in the lab",
      ["--nodes", "2", "--vm", "n3"],
      {},
      /--vm names "n3", which is not a node/,
    ],
    ["--kernel without --vm", ["--kernel", "6.1.0-57-amd64"], {}, /--kernel needs --vm/],
  ];
  for (const [what, args, env, message] of cases) {
    it(`${what}: one clear line, exit 1, nothing built`, async () => {
      const r = await swarmnet(["lab", "up", "--name", lab, ...args], env);
      assert.equal(r.exitCode, 1, r.stdout);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.deepEqual(await labNamespaces(ex, lab), []);
      assert.equal(existsSync(labDir(lab)), false);
    });
  }
});

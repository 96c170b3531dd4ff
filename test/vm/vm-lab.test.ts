/**
 * The VM lab on the real kernel (qemu TCG booting Debian's kernel). One lab for the whole
 * group — n1 a namespace manager, n2 and n3 VM workers — because a boot costs minutes on a
 * loaded 2-core machine; every suite here runs on it, in order, and the last one kills a
 * qemu and shows `lab down` leaves nothing.
 *
 * The smoke group (always): every VM joins and is Ready; commands, exit codes and streams
 * through the control port; the underlay between VMs, namespaces and `client`; no VM
 * device outside the lab; the guest's probe finds what this host lacks and the agent
 * chooses kernel ESP; containers on the two VMs ping over an encrypted overlay through
 * ESP states in the guests' kernels, and on that overlay the kernel-ESP acceptance checks
 * between the two VM agents (kernel-esp-live.ts: a capture on the underlay holds only ESP
 * for the VNI, the plaintext guard drops forged VXLAN, forced key rotations during a
 * stream lose nothing); the IPVS mesh (ipvs-mesh.ts), local drivers (local-drivers.ts) and
 * chaos netem on n3 (chaos-netem.ts); a second lab (one bare VM) booted beside it and
 * taken down without touching it. With `SWARMNET_VM_FULL=1` (support.ts) also: the whole
 * kernel-ESP acceptance scenario run inside n2 (kernel-esp.ts) and a VM agent's restart.
 * Bad input needs no boot and always runs.
 *
 * No `swarmnet` CLI runs in a guest: a Node start there takes a minute or more of the VM's
 * one emulated vCPU on a loaded machine (measured: `swarmnet run` 110 s). Containers come
 * from a global service created on n1; the guests are looked at with their `ip`.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { Executor } from "../../common/executor.js";
import { labDir } from "../../deploy/lab/state.js";
import { cachedKernelVersions } from "../../deploy/vm/kernel-cache.js";
import { swarmnet } from "../support/cli.js";
import { eventually, LabCli } from "../support/lab-cli.js";
import { isRoot, labNamespaces, labProcesses, uniqueLabName } from "../support/netns.js";
import { describeChaosNetemInVm } from "./chaos-netem.js";
import { describeIpvsMeshInVm } from "./ipvs-mesh.js";
import { describeKernelEspInVm } from "./kernel-esp.js";
import { describeKernelEspLiveInVm } from "./kernel-esp-live.js";
import { describeLocalDriversInVm } from "./local-drivers.js";
import {
  findTask,
  requireVmHost,
  VM_ENCRYPTED_NETWORK,
  VM_FULL,
  VM_LAB_UP_TIMEOUT_MS,
  type VmTask,
} from "./support.js";
import { describeVagrantProvisionInVm } from "./vagrant-provision.js";

interface StatusRow {
  name: string;
  role: string;
  agent: boolean | null;
  manager: boolean | null;
  etcd: boolean | null;
  kind: string;
}

interface NodeRow {
  Hostname: string;
  Status: string;
}

type Capabilities = { Description: { Capabilities: { Name: string; Available: boolean; Detail: string }[] } };

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

/** Asserts nothing of `lab` is left: namespaces, processes, its folder, taps in the host. */
async function assertGone(ex: Executor, lab: string): Promise<void> {
  assert.deepEqual(await labNamespaces(ex, lab), []);
  assert.deepEqual(labProcesses(lab), []);
  assert.equal(existsSync(labDir(lab)), false);
  const hostLinks = await ex.ipJson<{ ifname: string }>(["link", "show"]);
  assert.ok(!hostLinks.some((l) => l.ifname.startsWith("vm-")), "no tap in the host namespace");
}

describe("VM lab (qemu, Debian kernel)", function () {
  const ex = new Executor();
  const lab = uniqueLabName();
  const cli = new LabCli(lab);
  /**
   * A second lab beside the first, booted while the first boots: one bare VM (`--no-start`:
   * no swarmnet process in it, so it costs a boot and little more).
   */
  const second = uniqueLabName();
  let secondUp: Promise<{ exitCode: number; stderr: string }> | undefined;

  before(async function () {
    this.timeout(VM_LAB_UP_TIMEOUT_MS);
    requireVmHost(this);
    const args = ["lab", "up", "--name", second, "--nodes", "1", "--vm", "--no-start"];
    secondUp = swarmnet(args, {}, VM_LAB_UP_TIMEOUT_MS);
    const started = Date.now();
    const up = await swarmnet(
      ["lab", "up", "--name", lab, "--nodes", "3", "--vm", "n2,n3"],
      {},
      VM_LAB_UP_TIMEOUT_MS,
    );
    assert.equal(up.exitCode, 0, up.stderr);
    console.log(`      lab up with two VM workers: ${Math.round((Date.now() - started) / 1000)} s`);
  });

  after(async function () {
    this.timeout(300_000);
    if (!isRoot) return;
    await swarmnet(["lab", "down", "--name", lab]);
    if (secondUp !== undefined) {
      await secondUp;
      await swarmnet(["lab", "down", "--name", second]);
    }
  });

  describe("smoke", function () {
    this.timeout(600_000);

    it("mixes a namespace manager and two VM workers, every process up", async () => {
      const rows = await status(lab);
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

    it("every VM node joins the swarm: node ls shows n1, n2 and n3 Ready", async () => {
      let rows: NodeRow[] = [];
      const ready = await eventually(
        async () => {
          rows = JSON.parse(await cli.ok("n1", "node", "ls", "--format", "json")) as NodeRow[];
          return ["n1", "n2", "n3"].every((n) => rows.some((r) => r.Hostname === n && r.Status === "Ready"));
        },
        120,
        1_000,
      );
      assert.ok(ready, JSON.stringify(rows));
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

    it("keeps every VM device inside the lab: no tap in the host namespace, both on the underlay bridge", async () => {
      const hostLinks = await ex.ipJson<{ ifname: string }>(["link", "show"]);
      assert.ok(!hostLinks.some((l) => l.ifname.startsWith("vm-")), "no tap in the host namespace");
      const taps = await ex.ipJson<{ ifname: string; master?: string }>(["link", "show"], {
        netns: `sn-${lab}-u`,
      });
      assert.deepEqual(
        taps.filter((l) => l.ifname.startsWith("vm-")).map((l) => [l.ifname, l.master]),
        [
          ["vm-n2", "br0"],
          ["vm-n3", "br0"],
        ],
      );
    });

    it("the VM's probe finds what this host lacks, and its agent chooses kernel ESP", async () => {
      const [node] = JSON.parse(await cli.ok("n1", "node", "inspect", "n2")) as Capabilities[];
      const caps = node?.Description.Capabilities ?? [];
      const missing = ["esp_aes_gcm", "ipvs", "vlan_8021q", "ipvlan", "wireguard"].filter(
        (f) => !caps.some((c) => c.Name === f && c.Available),
      );
      assert.deepEqual(missing, [], JSON.stringify(caps.filter((c) => !c.Available)));
      const backend = caps.find((c) => c.Name === "encryption_backend")?.Detail ?? "";
      assert.match(backend, /^kernel\b/, backend);
    });

    describe("encrypted overlay between VM agents", function () {
      it("containers on the two VMs ping over an encrypted overlay, through ESP states in the guests", async () => {
        const { name: network, subnet } = VM_ENCRYPTED_NETWORK;
        await cli.ok(
          "n1",
          "network",
          "create",
          "-d",
          "overlay",
          "--subnet",
          `${subnet}0/24`,
          "--opt",
          "encrypted",
          network,
        );
        // A global service puts a task on every node, placed by the agents already running
        // in the VMs: no CLI starts in a guest (each costs a minute or more of emulated CPU).
        await cli.ok(
          "n1",
          "service",
          "create",
          "-d",
          "--name",
          "s",
          "--mode",
          "global",
          "--network",
          network,
          "--",
          "sleep",
          "3600",
        );
        const found: Record<string, VmTask | undefined> = {};
        const placed = await eventually(
          async () => {
            for (const node of ["n2", "n3"]) found[node] ??= await findTask(cli, node, subnet);
            return found["n2"] !== undefined && found["n3"] !== undefined;
          },
          120,
          2_000,
        );
        assert.ok(placed, `a task with an address on n2 and n3: ${JSON.stringify(found)}`);
        const from = found["n2"]?.netns ?? "";
        const to = found["n3"]?.ip ?? "";
        const pinged = await eventually(
          async () =>
            (await cli.exec("n2", "ip", "netns", "exec", from, "ping", "-c1", "-W2", to)).exitCode === 0,
          60,
          1_000,
        );
        assert.ok(pinged, `n2's task -> n3's task at ${to}`);
        // Only the lines naming the states: the others hold key bytes, never to be printed.
        const states = (await cli.exec("n2", "ip", "xfrm", "state")).stdout
          .split("\n")
          .filter((l) => /^src|proto esp|^\s*aead rfc4106/.test(l))
          .map((l) => l.replace(/ 0x[0-9a-f]+ (\d+)$/, " <key> $1"))
          .join("\n");
        assert.match(states, /src 100\.64\.1\.2 dst 100\.64\.1\.3\s+proto esp/, states);
        assert.match(states, /aead rfc4106\(gcm\(aes\)\) <key>/, states);
      });
    });

    describeKernelEspLiveInVm(() => lab);
    describeIpvsMeshInVm(() => lab);
  });

  describeLocalDriversInVm(() => lab);
  describeChaosNetemInVm(() => lab);

  if (VM_FULL) {
    describeKernelEspInVm(() => lab);

    describe("lifecycle", function () {
      it("restarts a VM node's agent like a namespace node's", async function () {
        this.timeout(600_000);
        const before = statePids(lab, "agent").find((p) => p.node === "n3")?.pid;
        const r = await swarmnet(["lab", "restart", "--name", lab, "n3"]);
        assert.equal(r.exitCode, 0, r.stderr);
        const after = statePids(lab, "agent").find((p) => p.node === "n3")?.pid;
        assert.notEqual(after, before);
        assert.equal((await status(lab)).find((s) => s.name === "n3")?.agent, true);
      });
    });
  }

  describe("two labs", function () {
    it("runs a second VM lab beside the first, and takes it down without touching the first", async function () {
      this.timeout(VM_LAB_UP_TIMEOUT_MS);
      const up = await secondUp;
      assert.equal(up?.exitCode, 0, up?.stderr);
      const rows = await status(second);
      assert.equal(rows.find((r) => r.name === "n1")?.kind, "vm");
      const inSecond = await new LabCli(second).exec("n1", "uname", "-r");
      assert.equal(inSecond.exitCode, 0, inSecond.stderr);
      const down = await swarmnet(["lab", "down", "--name", second]);
      assert.equal(down.exitCode, 0, down.stderr);
      await assertGone(ex, second);
      const still = await cli.exec("n2", "true");
      assert.equal(still.exitCode, 0, "the first lab's VMs still answer");
      const taps = await ex.ipJson<{ ifname: string }>(["link", "show"], { netns: `sn-${lab}-u` });
      assert.deepEqual(
        taps.filter((l) => l.ifname.startsWith("vm-")).map((l) => l.ifname),
        ["vm-n2", "vm-n3"],
      );
    });
  });

  describe("teardown", function () {
    it("after kill -9 of a qemu, status says so and lab down leaves nothing", async function () {
      this.timeout(300_000);
      const qemu = statePids(lab, "qemu").find((p) => p.node === "n3");
      assert.ok(qemu !== undefined);
      process.kill(qemu.pid, "SIGKILL");
      const rows = await status(lab);
      assert.equal(rows.find((r) => r.name === "n3")?.agent, false);
      assert.equal(rows.find((r) => r.name === "n2")?.agent, true);
      const down = await swarmnet(["lab", "down", "--name", lab]);
      assert.equal(down.exitCode, 0, down.stderr);
      await assertGone(ex, lab);
    });
  });
});

describeVagrantProvisionInVm();

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

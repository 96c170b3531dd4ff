/**
 * VM group (vm-lab.test.ts registers it on its lab): the sub-interface drivers' paths this
 * host's kernel lacks, live on Debian's kernel in the VM workers n2 and n3 — macvlan in
 * 802.1q trunk mode (`-o parent=eth0.10`: the VLAN sub-interface made for the network and
 * removed with it) and ipvlan in l2 and l3 mode.
 *
 * How containers get onto the VMs: a `--scope swarm` network (Docker's swarm-scoped
 * macvlan/ipvlan) and a global service, both created from n1, so the agents already running
 * in the guests build everything and no `swarmnet` CLI starts in a guest (a minute or more
 * each under emulation). n1 — a namespace node on this host's kernel — also gets a task of
 * each global service; it fails there (no 802.1q, no ipvlan), as a Docker node without the
 * parent would, and is retried: the assertions look at the VMs only.
 *
 * Who reaches whom: this host's kernel cannot tag frames (no 8021q, no bridge VLAN
 * filtering, no act_vlan), so `client` cannot join VLAN 10. The trunk network is checked
 * VM to VM — n3's task pings n2's across the underlay bridge, a capture there shows the
 * frames tagged with VLAN 10 — and an untagged host with an address in its subnet
 * (`client`) does not reach it. The ipvlan networks are reached from `client`: l2 at the
 * tasks' own addresses on the segment (answered with the parent's MAC), l3 through a route
 * via the task's node (the parent routes; nothing answers ARP for the task).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor } from "../../common/executor.js";
import { captureDuring } from "../netns/encryption/capture.js";
import { eventually, LabCli } from "../support/lab-cli.js";

const VMS = ["n2", "n3"] as const;
const NODE_ADDRESS: Record<(typeof VMS)[number], string> = { n2: "100.64.1.2", n3: "100.64.1.3" };
const TRUNK = { driver: "macvlan", name: "mvtrunk", service: "mvt", subnet: "10.90.10" };
const L2 = { driver: "ipvlan", name: "ivl2", service: "ivl2s", subnet: "10.91.0" };
const L3 = { driver: "ipvlan", name: "ivl3", service: "ivl3s", subnet: "10.92.0" };
/** An address for `client` inside a network's subnet (the managers hand out from .2 up). */
const CLIENT_HOST = 250;

interface JsonLink {
  ifname: string;
  address?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; mode?: string } };
}

/** Where a task sits: its container's namespace in the guest and its address. */
interface Task {
  netns: string;
  ip: string;
}

export function describeLocalDriversInVm(lab: () => string): void {
  describe("macvlan 802.1q trunk and ipvlan l2/l3 on VM nodes (Debian kernel)", function () {
    this.timeout(600_000);
    const ex = new Executor();
    let cli: LabCli;
    let clientIf = "";
    const undo: (() => Promise<unknown>)[] = [];

    before(async () => {
      cli = new LabCli(lab());
      const addrs = await cli.exec("client", "ip", "-4", "-o", "addr", "show");
      clientIf = /^\d+:\s+(\S+)\s+inet 100\.64\./m.exec(addrs.stdout)?.[1] ?? "";
      assert.notEqual(clientIf, "", addrs.stdout);
    });

    after(async () => {
      for (const u of undo.reverse()) await u().catch(() => undefined);
    });

    /** Every task of a network on `node`: container namespaces with an address in `subnet`. */
    const tasksOn = async (node: string, subnet: string): Promise<Task[]> => {
      // One command for every namespace: each dynamically linked command costs in the guest.
      const r = await cli.exec(node, "ip", "-all", "netns", "exec", "ip", "-4", "-o", "addr", "show");
      const out: Task[] = [];
      let netns = "";
      for (const line of r.stdout.split("\n")) {
        const ns = /^netns: (\S+)/.exec(line)?.[1];
        if (ns !== undefined) netns = ns;
        const ip = new RegExp(`inet (${subnet.replace(/\./g, "\\.")}\\.\\d+)/`).exec(line)?.[1];
        if (ip !== undefined && netns !== "") out.push({ netns, ip });
      }
      return out;
    };

    /** Waits until each VM runs a task on the network; returns them by node. */
    const placed = async (subnet: string): Promise<Record<string, Task>> => {
      const found: Record<string, Task> = {};
      const ok = await eventually(
        async () => {
          for (const node of VMS) {
            const t = found[node] ?? (await tasksOn(node, subnet))[0];
            if (t !== undefined) found[node] = t;
          }
          return VMS.every((n) => found[n] !== undefined);
        },
        120,
        2_000,
      );
      assert.ok(ok, `a task on ${subnet}.0/24 on n2 and n3: ${JSON.stringify(found)}`);
      return found;
    };

    const links = async (node: string): Promise<JsonLink[]> =>
      JSON.parse((await cli.exec(node, "ip", "-d", "-j", "link", "show")).stdout) as JsonLink[];

    const pingFrom = async (node: string, netns: string, ip: string): Promise<boolean> =>
      eventually(
        async () =>
          (await cli.exec(node, "ip", "netns", "exec", netns, "ping", "-c1", "-W2", ip)).exitCode === 0,
        30,
        1_000,
      );

    const clientPings = async (ip: string, tries = 30): Promise<boolean> =>
      eventually(
        async () => (await cli.exec("client", "ping", "-c1", "-W2", ip)).exitCode === 0,
        tries,
        1_000,
      );

    const createNetwork = async (n: { driver: string; name: string; subnet: string }, ...opts: string[]) => {
      await cli.ok(
        "n1",
        "network",
        "create",
        "-d",
        n.driver,
        "--scope",
        "swarm",
        "--subnet",
        `${n.subnet}.0/24`,
        ...opts.flatMap((o) => ["-o", o]),
        n.name,
      );
      undo.push(() => cli.sx("n1", "network", "rm", n.name));
    };

    const createService = async (n: { name: string; service: string }) => {
      await cli.ok(
        "n1",
        "service",
        "create",
        "-d",
        "--name",
        n.service,
        "--mode",
        "global",
        "--endpoint-mode",
        "dnsrr",
        "--network",
        n.name,
        "--",
        "sleep",
        "3600",
      );
      undo.push(() => cli.sx("n1", "service", "rm", n.service));
    };

    /** Removes the service, then the network (refused until the tasks are gone). */
    const remove = async (n: { name: string; service: string }) => {
      await cli.ok("n1", "service", "rm", n.service);
      const gone = await eventually(
        async () => (await cli.sx("n1", "network", "rm", n.name)).exitCode === 0,
        60,
        2_000,
      );
      assert.ok(gone, `network rm ${n.name} after its service`);
    };

    it("macvlan trunk (parent=eth0.10, --scope swarm): each VM makes eth0.10 with its task, and the tasks talk over VLAN 10", async () => {
      await createNetwork(TRUNK, "parent=eth0.10");
      await createService(TRUNK);
      const tasks = await placed(TRUNK.subnet);
      for (const node of VMS) {
        const all = await links(node);
        const vlan = all.find((l) => l.ifname === "eth0.10");
        assert.equal(vlan?.linkinfo?.info_kind, "vlan", `${node}: ${JSON.stringify(vlan)}`);
        assert.equal(vlan?.linkinfo?.info_data?.id, 10);
        assert.match(vlan?.ifalias ?? "", /^swarmnet:macvlan:/);
        const inside = JSON.parse(
          (await cli.exec(node, "ip", "-n", tasks[node]?.netns ?? "", "-d", "-j", "link", "show", "eth0"))
            .stdout,
        ) as JsonLink[];
        assert.equal(inside[0]?.linkinfo?.info_kind, "macvlan", JSON.stringify(inside));
        assert.equal(inside[0]?.linkinfo?.info_data?.mode, "bridge");
      }
      const n2 = tasks["n2"] as Task;
      const n3 = tasks["n3"] as Task;
      const dir = mkdtempSync(join(tmpdir(), "swarmnet-vlan-"));
      try {
        const { result, frames } = await captureDuring(ex, `sn-${cli.lab}-u`, "vm-n2", dir, "trunk", () =>
          pingFrom("n3", n3.netns, n2.ip),
        );
        assert.ok(result, `n3's task -> n2's task at ${n2.ip} over VLAN 10`);
        // 802.1Q: TPID 0x8100 at offset 12, VLAN id in the low 12 bits of the TCI.
        const tagged = frames.filter(
          (f) => f.length >= 18 && f.readUInt16BE(12) === 0x8100 && (f.readUInt16BE(14) & 0xfff) === 10,
        );
        assert.ok(tagged.length > 0, `frames to n2 tagged with VLAN 10 (${frames.length} captured)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      assert.ok(await pingFrom("n2", n2.netns, n3.ip), `n2's task -> n3's task at ${n3.ip}`);
    });

    it("an untagged host on the segment with an address in the trunk's subnet does not reach its tasks", async () => {
      const tasks = await placed(TRUNK.subnet);
      const addr = `${TRUNK.subnet}.${CLIENT_HOST}/24`;
      await cli.exec("client", "ip", "addr", "add", addr, "dev", clientIf);
      undo.push(() => cli.exec("client", "ip", "addr", "del", addr, "dev", clientIf));
      const r = await cli.exec("client", "ping", "-c2", "-W2", tasks["n2"]?.ip ?? "");
      assert.notEqual(r.exitCode, 0, `client reached ${tasks["n2"]?.ip ?? ""} untagged: ${r.stdout}`);
      await cli.exec("client", "ip", "addr", "del", addr, "dev", clientIf);
    });

    it("removing the trunk's service removes eth0.10 on both VMs; network rm leaves nothing", async () => {
      await remove(TRUNK);
      const clean = await eventually(
        async () => {
          for (const node of VMS) {
            const all = await links(node);
            if (all.some((l) => l.ifname === "eth0.10" || /^mv[0-9a-f]{10}$/.test(l.ifname))) return false;
            if ((await tasksOn(node, TRUNK.subnet)).length > 0) return false;
          }
          return true;
        },
        60,
        2_000,
      );
      assert.ok(clean, "no eth0.10, no temporary macvlan device, no task left on n2 or n3");
    });

    it("ipvlan l2 (--scope swarm, parent=eth0): client reaches the tasks on both VMs at their own addresses, answered with the parent's MAC", async () => {
      await createNetwork(L2, "parent=eth0", "ipvlan_mode=l2");
      await createService(L2);
      const tasks = await placed(L2.subnet);
      const addr = `${L2.subnet}.${CLIENT_HOST}/24`;
      await cli.exec("client", "ip", "addr", "add", addr, "dev", clientIf);
      undo.push(() => cli.exec("client", "ip", "addr", "del", addr, "dev", clientIf));
      for (const node of VMS) {
        const t = tasks[node] as Task;
        assert.ok(await clientPings(t.ip), `client -> ${node}'s task at ${t.ip}`);
        const parent = (await links(node)).find((l) => l.ifname === "eth0")?.address;
        const neigh = (await cli.exec("client", "ip", "neigh", "show", t.ip)).stdout;
        assert.ok(
          parent !== undefined && neigh.includes(parent),
          `${t.ip} at ${node}'s eth0 MAC ${parent}: ${neigh}`,
        );
        const inside = JSON.parse(
          (await cli.exec(node, "ip", "-n", t.netns, "-d", "-j", "link", "show", "eth0")).stdout,
        ) as JsonLink[];
        assert.equal(inside[0]?.linkinfo?.info_kind, "ipvlan", JSON.stringify(inside));
      }
      await cli.exec("client", "ip", "addr", "del", addr, "dev", clientIf);
      await remove(L2);
    });

    it("ipvlan l3: client reaches each VM's task through a route via that VM", async () => {
      await createNetwork(L3, "parent=eth0", "ipvlan_mode=l3");
      await createService(L3);
      const tasks = await placed(L3.subnet);
      for (const node of VMS) {
        const t = tasks[node] as Task;
        await cli.exec("client", "ip", "route", "add", `${t.ip}/32`, "via", NODE_ADDRESS[node]);
        undo.push(() => cli.exec("client", "ip", "route", "del", `${t.ip}/32`));
        assert.ok(await clientPings(t.ip), `client -> ${node}'s task at ${t.ip} via ${NODE_ADDRESS[node]}`);
        const route = (await cli.exec(node, "ip", "-n", t.netns, "route", "show", "default")).stdout;
        assert.match(route, /^default dev eth0/m);
        await cli.exec("client", "ip", "route", "del", `${t.ip}/32`);
      }
      await remove(L3);
    });

    it("leaves nothing on the VMs: no VLAN or temporary device, no task on these networks", async () => {
      for (const node of VMS) {
        const names = (await links(node)).map((l) => l.ifname);
        assert.deepEqual(
          names.filter((n) => /\.\d+$|^(mv|iv)[0-9a-f]{10}$/.test(n)),
          [],
          `${node}: ${names.join(" ")}`,
        );
        for (const n of [TRUNK, L2, L3])
          assert.deepEqual(await tasksOn(node, n.subnet), [], `${node} ${n.name}`);
      }
    });
  });
}

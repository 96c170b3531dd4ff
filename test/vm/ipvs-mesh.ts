/**
 * Smoke VM group (vm-lab.test.ts registers it on its lab): the routing mesh on IPVS, live
 * on Debian's kernel, checked by the same acceptance checks as the nftables mesh in the
 * netns topology (test/support/mesh-acceptance.ts). The VM workers' probe finds ip_vs,
 * so their agents choose the IPVS backend (`mesh_backend` in `node inspect`); n1, a
 * namespace node on this host (no ip_vs), stays on nftables, so the cluster is mixed, as
 * a rolling change would leave it.
 *
 * One service `ipvsweb`, created with the CLI on n1 (no CLI starts in a guest), published
 * on 8090 (ingress) and 8091 (host mode), on the overlay `ipvsov`, where a global service
 * `ipvscli` gives every node a client container:
 *   - 2 replicas, then scaled to 3: through either VM node, round robin over exactly the
 *     tasks that `ipvsadm -Ln` in each guest shows as the fwmark service's masquerading
 *     real servers (one of them on the namespace node, through the ingress overlay);
 *   - host mode: each node's 8091 answers with its own task, seeing the client's address;
 *   - the service's VIP from the client container on n2: balanced by IPVS in the
 *     container's own namespace, the tasks seeing the container's address;
 *   - 3 connections held idle through n2 (one per task): IPVS's entries for them expire
 *     in days (the agent's `ipvsadm --set`), not 15 minutes; scaled to 1, the two to
 *     removed tasks are reset and the survivor's still answers; every new request goes to
 *     the survivor, and only its node answers 8091.
 *
 * The tasks run `busybox httpd` with a CGI that answers as `swarmnet whoami`
 * (ipvs-responder/, read over 9p in the guests): no Node process per task, which under
 * TCG would cost a minute each. A task is named by its ingress address (the real server).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parseWhoami, type WhoamiAnswer } from "../../cli/whoami.js";
import { CLIENT_ADDRESS } from "../../deploy/lab/layout.js";
import { ingressMark } from "../../agent/ingress/index.js";
import { eventually, LabCli } from "../support/lab-cli.js";
import {
  expectBalanced,
  expectHostMode,
  expectLongBinding,
  expectOnly,
  expectRemovalReset,
  holdConnections,
  type MeshLab,
} from "../support/mesh-acceptance.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PORT = 8090;
const HOST_PORT = 8091;
const MARK = ingressMark("tcp", PORT);
const VM_NODES = ["n2", "n3"] as const;
const NODES = ["n1", "n2", "n3"] as const;
/** The lab numbers nodes from 100.64.1.1. */
const ADDR: Record<string, string> = { n1: "100.64.1.1", n2: "100.64.1.2", n3: "100.64.1.3" };
const OVERLAY_SUBNET = "10.79.0.";
/** The client container's role in the checks: ipvscli's container on n2. */
const CONTAINER = "c1";

type Capabilities = { Description: { Capabilities: { Name: string; Available: boolean; Detail: string }[] } };

/** True when `ip` is in `cidr` (IPv4). */
function inSubnet(ip: string, cidr: string): boolean {
  const [net = "", bits = "32"] = cidr.split("/");
  const n = (a: string) => a.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(net) / size);
}

/** The VM lab as the shared checks see it; `container` is where role "c1" runs. */
function vmMeshLab(
  cli: LabCli,
  ingressSubnet: () => string,
  container: () => { node: string; netns: string },
): MeshLab {
  return {
    clientNetns: `sn-${cli.lab}-client`,
    clientAddr: CLIENT_ADDRESS,
    addr: (node) => ADDR[node] ?? assert.fail(`no node ${node}`),
    url: (host, port) => `http://${host}:${port}/cgi-bin/who`,
    async gets(from, url, n) {
      // One shell per batch: a `lab exec` costs a CLI start.
      const loop = `for i in $(seq ${n}); do curl -s -m 5 ${url}; echo @@; done`;
      const r =
        from === CONTAINER
          ? await cli.exec(container().node, "ip", "netns", "exec", container().netns, "sh", "-c", loop)
          : await cli.exec(from, "sh", "-c", loop);
      const chunks = r.stdout.split("@@\n").slice(0, n);
      while (chunks.length < n) chunks.push("");
      return chunks.map((c) => (c.includes("Task:") ? parseWhoami(c) : undefined));
    },
    task: (a: WhoamiAnswer) => a.ips.find((ip) => inSubnet(ip, ingressSubnet())) ?? a.task,
    async connectionTimeoutS(node, clientPort) {
      // `ipvsadm -Lnc`: "TCP 7199:59 ESTABLISHED 100.64.0.100:40000 100.64.1.2:8090 10.0.0.5:80"
      const r = await cli.exec(node, "ipvsadm", "-Lnc");
      const line = r.stdout.split("\n").find((l) => l.includes(` ${CLIENT_ADDRESS}:${clientPort} `));
      const m = line === undefined ? null : /^TCP\s+(\d+):(\d+)\s+ESTABLISHED/.exec(line);
      return m === null ? undefined : Number(m[1]) * 60 + Number(m[2]);
    },
  };
}

/** Registers the suite; `lab()` names the VM lab (n1 a namespace manager, n2 and n3 VM workers). */
export function describeIpvsMeshInVm(lab: () => string): void {
  describe("routing mesh on IPVS in the VMs (Debian kernel, ip_vs): the mesh acceptance checks", function () {
    this.timeout(600_000);
    let cli: LabCli;
    let ingress = "";
    const client = { node: "n2", netns: "", ip: "" };
    let mesh: MeshLab;
    /** The task answering each node's host-mode port while 3 replicas run. */
    const hostTask: Record<string, string> = {};
    let started = 0;

    before(async () => {
      cli = new LabCli(lab());
      mesh = vmMeshLab(
        cli,
        () => ingress,
        () => client,
      );
    });

    beforeEach(() => {
      started = Date.now();
    });

    afterEach(function () {
      console.log(
        `        (${this.currentTest?.title.slice(0, 40)}…: ${Math.round((Date.now() - started) / 1000)} s)`,
      );
    });

    after(async () => {
      await cli?.sx("n1", "service", "rm", "ipvsweb", "ipvscli");
      await cli?.sx("n1", "network", "rm", "ipvsov");
    });

    /** Real servers of our fwmark service in a guest's `ipvsadm -Ln` (addresses only). */
    async function realServers(node: string): Promise<string[] | undefined> {
      const r = await cli.exec(node, "ipvsadm", "-Ln");
      const lines = r.stdout.split("\n");
      const at = lines.findIndex((l) => new RegExp(`^FWM\\s+${MARK}\\s+rr`).test(l));
      if (at < 0) return undefined;
      const out: string[] = [];
      for (const l of lines.slice(at + 1)) {
        const m = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):80\s+Masq\s+1\b/.exec(l);
        if (m === null) break;
        out.push(m[1] ?? "");
      }
      return out.sort();
    }

    let last: Record<string, string[] | undefined> = {};

    /** Waits until both guests' IPVS hold the same `n` real servers for our service; those. */
    async function realServersEverywhere(n: number): Promise<string[]> {
      const done = await eventually(
        async () => {
          last = {};
          for (const node of VM_NODES) last[node] = await realServers(node);
          return VM_NODES.every((node) => last[node]?.length === n);
        },
        120,
        2_000,
      );
      assert.ok(done, `${n} real servers in each guest's IPVS: ${JSON.stringify(last)}`);
      assert.deepEqual(last["n2"], last["n3"], "both VMs balance over the same tasks");
      return last["n2"] ?? [];
    }

    /** Retries `check` (the mesh converges on every node after the guests' IPVS do) until it passes. */
    async function settled(check: () => Promise<unknown>): Promise<void> {
      let error: unknown;
      const ok = await eventually(
        async () => {
          try {
            await check();
            return true;
          } catch (err) {
            error = err;
            return false;
          }
        },
        15,
        2_000,
      );
      if (!ok) throw error;
    }

    it("the VM agents chose the IPVS mesh backend by probe (node inspect)", async () => {
      for (const node of VM_NODES) {
        const [n] = JSON.parse(await cli.ok("n1", "node", "inspect", node)) as Capabilities[];
        const backend = n?.Description.Capabilities.find((c) => c.Name === "mesh_backend")?.Detail ?? "";
        assert.match(backend, /^ipvs: kernel has ip_vs/, `${node}: ${backend}`);
      }
    });

    it(`published on ${PORT}: answers on both VM nodes, round robin over the real servers ipvsadm -Ln shows; scaled up from 2 to 3`, async () => {
      const [net] = JSON.parse(await cli.ok("n1", "network", "inspect", "ingress")) as {
        IPAM: { Config: { Subnet: string }[] };
      }[];
      ingress = net?.IPAM.Config[0]?.Subnet ?? assert.fail("no ingress subnet");
      await cli.ok("n1", "network", "create", "-d", "overlay", "--subnet", `${OVERLAY_SUBNET}0/24`, "ipvsov");
      await cli.ok(
        "n1",
        "service",
        "create",
        "-d",
        "--name",
        "ipvscli",
        "--mode",
        "global",
        "--network",
        "ipvsov",
        "--",
        "sleep",
        "3601",
      );
      await cli.ok(
        "n1",
        "service",
        "create",
        "-d",
        "--name",
        "ipvsweb",
        "--replicas",
        "2",
        "--network",
        "ipvsov",
        "--publish",
        `${PORT}:80`,
        "--publish",
        `published=${HOST_PORT},target=80,mode=host`,
        "--",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        `${ROOT}test/vm/ipvs-responder`,
      );
      const two = await realServersEverywhere(2);
      for (const node of VM_NODES)
        await settled(() => expectBalanced(mesh, "client", mesh.url(ADDR[node] ?? "", PORT), 6, two));
      await cli.ok("n1", "service", "scale", "-d", "ipvsweb=3");
      const three = await realServersEverywhere(3);
      for (const node of VM_NODES)
        await settled(() => expectBalanced(mesh, "client", mesh.url(ADDR[node] ?? "", PORT), 9, three));
    });

    it(`host mode on ${HOST_PORT}: each node answers with its own task, which sees the client's address`, async () => {
      for (const node of NODES) {
        await settled(async () => {
          const [a] = await mesh.gets("client", mesh.url(ADDR[node] ?? "", HOST_PORT), 1);
          assert.ok(a !== undefined, `${node}'s host port answers`);
          hostTask[node] = mesh.task(a);
        });
      }
      assert.equal(
        new Set(Object.values(hostTask)).size,
        3,
        `a task of its own on each node: ${JSON.stringify(hostTask)}`,
      );
      await expectHostMode(mesh, HOST_PORT, hostTask, []);
    });

    it("the service VIP from a container on a VM node: balanced by IPVS in the container, the tasks see the container", async () => {
      const [svc] = JSON.parse(await cli.ok("n1", "service", "inspect", "ipvsweb")) as {
        Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] };
      }[];
      const vip = svc?.Endpoint.VirtualIPs.map((v) => v.Addr.split("/")[0] ?? "").find((a) =>
        a.startsWith(OVERLAY_SUBNET),
      );
      assert.ok(vip !== undefined, JSON.stringify(svc?.Endpoint));
      const found = await eventually(
        async () => {
          const r = await cli.exec(
            client.node,
            "sh",
            "-c",
            "for p in $(pgrep -f '^sleep 3601$'); do ip netns identify $p; done | grep -m1 .",
          );
          client.netns = r.stdout.trim();
          if (client.netns === "") return false;
          const addr = await cli.exec(client.node, "ip", "-n", client.netns, "-4", "-o", "addr", "show");
          client.ip =
            new RegExp(`inet (${OVERLAY_SUBNET.replace(/\./g, "\\.")}\\d+)/`).exec(addr.stdout)?.[1] ?? "";
          return client.ip !== "";
        },
        60,
        2_000,
      );
      assert.ok(found, `ipvscli's container on ${client.node}: ${JSON.stringify(client)}`);
      const tasks = await realServersEverywhere(3);
      await settled(() => expectBalanced(mesh, CONTAINER, `http://${vip}/cgi-bin/who`, 9, tasks, client.ip));
    });

    it("scaled to 1: held connections to removed tasks are reset, the survivor's idle one still answers, bound for days; only the survivor answers", async () => {
      const held = await holdConnections(mesh, "n2", PORT, 3);
      let only = "";
      try {
        await expectLongBinding(mesh, "n2", held);
        await cli.ok("n1", "service", "scale", "-d", "ipvsweb=1");
        [only = ""] = await realServersEverywhere(1);
        console.log(
          `        held connections after the scale-down: ${await expectRemovalReset(mesh, held, [only])}`,
        );
      } finally {
        held.kill();
      }
      for (const node of VM_NODES)
        await settled(() => expectOnly(mesh, "client", mesh.url(ADDR[node] ?? "", PORT), 6, [only]));
      const home =
        Object.entries(hostTask).find(([, t]) => t === only)?.[0] ?? assert.fail(`${only} had no host port`);
      await settled(() =>
        expectHostMode(
          mesh,
          HOST_PORT,
          { [home]: only },
          NODES.filter((n) => n !== home),
        ),
      );
    });
  });
}

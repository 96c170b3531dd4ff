/**
 * Smoke VM group (vm-lab.test.ts registers it on its lab): the routing mesh on IPVS, live
 * on Debian's kernel. The VM workers' probe finds ip_vs, so their agents choose the IPVS
 * backend (`mesh_backend` in `node inspect`); n1, a namespace node on this host (no
 * ip_vs), stays on nftables, so the cluster is mixed, as a rolling change would leave it.
 *
 * A service of 3 replicas published on 8090, created with the CLI on n1 (no CLI starts in
 * a guest), spread over n1, n2 and n3: from `client`, requests to either VM node's 8090
 * are answered, round robin over all 3 tasks (including the one on the namespace node,
 * through the ingress overlay); `ipvsadm -Ln` in each guest shows the fwmark virtual
 * service with the 3 tasks as masquerading real servers. Scaled to 1: each guest's IPVS
 * holds one real server, and every request through either VM node is answered by that
 * one task (a request sent to a removed task would fail: its container is gone).
 *
 * The tasks run `busybox httpd` with a CGI that answers the task's addresses
 * (ipvs-responder/, in the repository, read over 9p in the guests): no Node process per
 * task, which under TCG would cost a minute each. Cheap enough for the smoke group: one
 * service, two scale steps, a few `lab exec`s (about 2–4 minutes on a loaded machine).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ingressMark } from "../../agent/ingress/index.js";
import { eventually, LabCli } from "../support/lab-cli.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PORT = 8090;
const MARK = ingressMark("tcp", PORT);
const VM_NODES = ["n2", "n3"] as const;
/** The VM nodes' underlay addresses (the lab numbers nodes from 100.64.1.1). */
const ADDR: Record<(typeof VM_NODES)[number], string> = { n2: "100.64.1.2", n3: "100.64.1.3" };
const REQUESTS = 9;

type Capabilities = { Description: { Capabilities: { Name: string; Available: boolean; Detail: string }[] } };

/** Registers the suite; `lab()` names the VM lab (n1 a namespace manager, n2 and n3 VM workers). */
export function describeIpvsMeshInVm(lab: () => string): void {
  describe("routing mesh on IPVS in the VMs (Debian kernel, ip_vs)", function () {
    this.timeout(600_000);
    let cli: LabCli;

    before(() => {
      cli = new LabCli(lab());
    });

    after(async () => {
      await cli?.sx("n1", "service", "rm", "ipvsweb");
    });

    /** `REQUESTS` requests from `client` to `addr`:8090, in one shell: each answer (the task's addresses) or "" when it failed. */
    async function requests(addr: string): Promise<string[]> {
      const loop =
        `for i in $(seq ${REQUESTS}); do ` +
        `curl -s -m 5 http://${addr}:${PORT}/cgi-bin/who | tr '\\n' ' '; echo; done`;
      const r = await cli.exec("client", "sh", "-c", loop);
      return r.stdout
        .split("\n")
        .slice(0, REQUESTS)
        .map((l) => l.trim());
    }

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

    /** Waits until both guests' IPVS hold `n` real servers for our service; undefined if they never do. */
    async function realServersEverywhere(n: number): Promise<Record<string, string[]> | undefined> {
      const done = await eventually(
        async () => {
          last = {};
          for (const node of VM_NODES) last[node] = await realServers(node);
          return VM_NODES.every((node) => last[node]?.length === n);
        },
        120,
        2_000,
      );
      return done ? (last as Record<string, string[]>) : undefined;
    }

    it("the VM agents chose the IPVS mesh backend by probe (node inspect)", async () => {
      for (const node of VM_NODES) {
        const [n] = JSON.parse(await cli.ok("n1", "node", "inspect", node)) as Capabilities[];
        const backend = n?.Description.Capabilities.find((c) => c.Name === "mesh_backend")?.Detail ?? "";
        assert.match(backend, /^ipvs: kernel has ip_vs/, `${node}: ${backend}`);
      }
    });

    it(`a port published on ${PORT} answers on both VM nodes, round robin over the 3 tasks; ipvsadm -Ln shows them`, async () => {
      await cli.ok(
        "n1",
        "service",
        "create",
        "-d",
        "--name",
        "ipvsweb",
        "--replicas",
        "3",
        "--publish",
        `${PORT}:80`,
        "--",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        `${ROOT}test/vm/ipvs-responder`,
      );
      const servers = await realServersEverywhere(3);
      assert.ok(servers !== undefined, `3 real servers in each guest's IPVS: ${JSON.stringify(last)}`);
      assert.deepEqual(servers["n2"], servers["n3"], "both VMs balance over the same tasks");

      for (const node of VM_NODES) {
        let answers: string[] = [];
        const balanced = await eventually(
          async () => {
            answers = await requests(ADDR[node]);
            return answers.every((a) => a !== "") && new Set(answers).size === 3;
          },
          30,
          2_000,
        );
        assert.ok(balanced, `through ${node}: ${JSON.stringify(answers)}`);
        // Round robin: each task answers its share; each answer names a real server.
        for (const a of new Set(answers)) {
          assert.equal(
            answers.filter((x) => x === a).length,
            REQUESTS / 3,
            `through ${node}: ${answers.join(" | ")}`,
          );
          assert.ok(
            (servers[node] ?? []).some((rs) => a.split(" ").some((cidr) => cidr.startsWith(`${rs}/`))),
            `answer ${a} is one of the real servers ${JSON.stringify(servers[node])}`,
          );
        }
      }
    });

    it("scaled to 1: one real server in each guest, and nothing is sent to a removed task", async () => {
      await cli.ok("n1", "service", "scale", "-d", "ipvsweb=1");
      const servers = await realServersEverywhere(1);
      assert.ok(servers !== undefined, `1 real server in each guest's IPVS: ${JSON.stringify(last)}`);
      const [only] = servers["n2"] ?? [];
      assert.deepEqual(servers["n3"], [only]);
      for (const node of VM_NODES) {
        const answers = await requests(ADDR[node]);
        assert.equal(answers.length, REQUESTS);
        for (const a of answers)
          assert.ok(
            a.split(" ").some((cidr) => cidr.startsWith(`${only}/`)),
            `through ${node}, answered by ${only}'s task only: ${answers.join(" | ")}`,
          );
      }
    });
  });
}

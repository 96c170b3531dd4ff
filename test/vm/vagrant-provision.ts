/**
 * VM group (vm-lab.test.ts registers it): in the default run since 2026-12-03, when a
 * whole run took 90–100 s on a quiet machine.
 * The Vagrant lab's provisioning (deploy/vagrant/provision.sh) run for real, with VM
 * nodes standing in for Vagrant's VMs: Vagrant itself cannot run here (no Vagrant, no
 * network in the VMs). Its own lab — two VMs booted with `lab up --no-start`, so no
 * swarmnet process runs in them until the scripts start one — since the shared lab's VMs
 * already run the lab's own agents.
 *
 *   Vagrant                               here
 *   /vagrant (the synced checkout)        this checkout, the guests' read-only root
 *   deploy/vagrant/.cluster (synced)      a folder in the lab's shared folder
 *   the NAT NIC, same address on each VM  a dummy `vnat0` with 10.0.2.15 on both guests
 *   private network 192.168.56.0/24       the lab's underlay (n1 100.64.1.1, n2 .2)
 *   provisioners' environment             `env -i` with the Vagrantfile's variables
 *   systemd                               none: PID 1 is the project's busybox init, so
 *                                         the script runs the units' ExecStart itself
 *
 * The scripts are run exactly as `vagrant up` runs them (install, then manager on n1 and
 * join on n2, both nodes at once as a parallel provider would), then all of it again:
 * the second run must change nothing. A Node start in a guest costs a minute or more of
 * its emulated CPU on a loaded machine, so the test starts as few as it can: `node ls`
 * on n1 once per run; everything else it reads with plain shell commands.
 *
 * Alone (it needs none of vm-lab.test.ts's lab, and mocha runs no hook of a suite whose
 * tests are all filtered out, so only this suite's two VMs boot):
 *   node node_modules/mocha/bin/mocha.js \
 *     --no-config --timeout 3600000 --exit dist/test/vm/vm-lab.test.js --grep 'Vagrant provisioning'
 * The guests see this checkout read-only: it must be built (and `npm ci`-current) first.
 */
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { vmManagerTiming } from "../../deploy/lab/lab.js";
import { labDir } from "../../deploy/lab/state.js";
import { swarmnet, type CliResult } from "../support/cli.js";
import { eventually } from "../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../support/netns.js";
import { requireVmHost, VM_LAB_UP_TIMEOUT_MS } from "./support.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROVISION = join(ROOT, "deploy/vagrant/provision.sh");
/** A systemd service's PATH: what a provisioner's shell has, and nothing of the lab's. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** One provisioning step in a guest under TCG on a loaded machine: a bound, not an expectation. */
const STEP_TIMEOUT_MS = 1_500_000;
const NODES = ["n1", "n2"] as const;
type Node = (typeof NODES)[number];

/**
 * Why `provision.sh install` would want to rebuild this checkout (its own tests, on the
 * host), or undefined: the guests see it read-only, so a stale build is the host's to fix.
 */
function staleCheckout(): string | undefined {
  const mtime = (f: string) => statSync(join(ROOT, f), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (mtime("package-lock.json") > mtime("node_modules/.package-lock.json")) {
    return "package-lock.json is newer than node_modules: run npm ci";
  }
  const bundle = mtime("dist/bundle/swarmnet.js");
  const newer = ["agent", "manager", "common", "cli", "proto", "deploy"].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
      .filter((f) => /\.(ts|proto)$/.test(f) && mtime(join(dir, f)) > bundle)
      .map((f) => join(dir, f)),
  );
  return newer.length === 0 ? undefined : `${newer[0]} is newer than the build: run npm run build`;
}

interface NodeRow {
  Hostname: string;
  Status: string;
  Addr: string;
}

/** Registers the suite (its own lab: `--no-start` VMs). */
export function describeVagrantProvisionInVm(): void {
  describe("Vagrant provisioning in VM nodes (deploy/vagrant/provision.sh)", function () {
    const lab = uniqueLabName();
    const shared = () => join(labDir(lab), "vagrant-shared");
    const address = (n: Node) => `100.64.1.${n.slice(1)}`;

    /** Any command in guest `node`, with a provisioner's clean environment plus `env`. */
    const guest = (node: Node, argv: string[], env: Record<string, string> = {}): Promise<CliResult> => {
      const vars = Object.entries({ PATH: SYSTEM_PATH, HOME: "/root", ...env }).map(([k, v]) => `${k}=${v}`);
      return swarmnet(
        ["lab", "exec", "--name", lab, node, "--", "env", "-i", ...vars, ...argv],
        {},
        STEP_TIMEOUT_MS,
      );
    };
    const sh = (node: Node, script: string) => guest(node, ["sh", "-c", script]);

    /** The variables the Vagrantfile gives each node's provisioners, pointed at this lab. */
    const vagrantEnv = (node: Node): Record<string, string> => ({
      SWARMNET_NODE: node,
      SWARMNET_ADDR: address(node),
      SWARMNET_MANAGER_ADDR: address("n1"),
      SWARMNET_SRC: ROOT,
      SWARMNET_SHARED: shared(),
      // n2 waits for n1's token while n1 starts etcd, its manager and init: minutes here.
      SWARMNET_JOIN_WAIT: String(STEP_TIMEOUT_MS / 1000),
      // The VM lab's own manager bounds (lab.ts): a VM agent answers that much slower.
      SWARMNET_MANAGER_FLAGS: vmManagerTiming().join(" "),
    });

    /** `provision.sh install`, then `manager` on n1 or `join` elsewhere: one node's `vagrant up`. */
    const provision = async (node: Node): Promise<string> => {
      const out: string[] = [];
      for (const step of ["install", node === "n1" ? "manager" : "join"]) {
        const started = Date.now();
        const r = await guest(node, ["bash", PROVISION, step], vagrantEnv(node));
        console.log(`      ${step} on ${node}: ${Math.round((Date.now() - started) / 1000)} s`);
        out.push(r.stdout, r.stderr);
        if (r.exitCode !== 0) {
          // The guest's logs live in its tmpfs, gone with the lab: their ends go in the error.
          const logs = await sh(node, "tail -n 40 /var/log/swarmnet/*.log 2>&1");
          throw new Error(
            `provision.sh ${step} on ${node}: exit ${r.exitCode}\n${out.join("")}\n${logs.stdout}`,
          );
        }
      }
      return out.join("");
    };

    /** Both nodes at once, as a parallel provider runs them; every node's failure reported. */
    const provisionAll = async (): Promise<string[]> => {
      const runs = await Promise.allSettled(NODES.map(provision));
      const failed = runs.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
      assert.deepEqual(failed, []);
      return runs.map((r) => (r.status === "fulfilled" ? r.value : ""));
    };

    /** `swarmnet node ls` on n1 as `vagrant ssh n1 -c 'swarmnet node ls'` runs it. */
    const nodeLs = async (): Promise<NodeRow[]> => {
      let rows: NodeRow[] = [];
      let last = "";
      const ready = await eventually(
        async () => {
          const r = await guest("n1", ["swarmnet", "node", "ls", "--format", "json"]);
          last = r.stderr;
          if (r.exitCode !== 0) return false;
          rows = JSON.parse(r.stdout) as NodeRow[];
          return NODES.every((n) => rows.some((row) => row.Hostname === n && row.Status === "Ready"));
        },
        10,
        5_000,
      );
      assert.ok(ready, `node ls on n1: ${JSON.stringify(rows)} ${last}`);
      return rows;
    };

    /** What a second run must leave as it is: pids, config, units, the cluster's identity, the token. */
    const snapshot = (node: Node) =>
      sh(
        node,
        "cd / && cat /run/swarmnet/*.pid && ls /etc/systemd/system/ | grep swarmnet && " +
          `md5sum /etc/swarmnet/* /etc/systemd/system/swarmnet-* /usr/local/bin/swarmnet /var/lib/swarmnet/cluster.json ${shared()}/worker-token`,
      );

    before(async function () {
      this.timeout(VM_LAB_UP_TIMEOUT_MS);
      requireVmHost(this);
      const stale = staleCheckout();
      if (stale !== undefined)
        throw new Error(`the guests would rebuild this checkout (read-only there): ${stale}`);
      const started = Date.now();
      const up = await swarmnet(
        ["lab", "up", "--name", lab, "--nodes", "2", "--vm", "--no-start", "--vm-memory", "1024"],
        {},
        VM_LAB_UP_TIMEOUT_MS,
      );
      assert.equal(up.exitCode, 0, up.stderr);
      console.log(`      lab up with two bare VMs: ${Math.round((Date.now() - started) / 1000)} s`);
      // Vagrant's NAT NIC: the same address on every VM, which no process may advertise.
      for (const n of NODES) {
        const r = await sh(
          n,
          "ip link add vnat0 type dummy && ip addr add 10.0.2.15/24 dev vnat0 && ip link set vnat0 up",
        );
        assert.equal(r.exitCode, 0, r.stderr);
      }
    });

    after(async function () {
      this.timeout(300_000);
      if (isRoot) await swarmnet(["lab", "down", "--name", lab]);
    });

    it("refuses bad input in one line, before it changes anything", async function () {
      this.timeout(600_000);
      const n2 = vagrantEnv("n2");
      const cases: [string, string[], Record<string, string>, RegExp][] = [
        ["no step", [], n2, /unknown step '' \(install, manager or join\)/],
        ["an unknown step", ["deploy"], n2, /unknown step 'deploy'/],
        ["no address", ["join"], { ...n2, SWARMNET_ADDR: "" }, /SWARMNET_ADDR is not set/],
        [
          "an address of another machine",
          ["join"],
          { ...n2, SWARMNET_ADDR: "100.64.1.9" },
          /100\.64\.1\.9 is not an address of this machine/,
        ],
        [
          "a bad manager address",
          ["join"],
          { ...n2, SWARMNET_MANAGER_ADDR: "100.64.1.300" },
          /SWARMNET_MANAGER_ADDR must be an IPv4 address/,
        ],
        [
          "a flag that is no flag",
          ["join"],
          { ...n2, SWARMNET_AGENT_FLAGS: "--x=$(reboot)" },
          /SWARMNET_AGENT_FLAGS may hold only flags/,
        ],
        ["join before install", ["join"], n2, /run 'provision.sh install' first/],
      ];
      for (const [what, args, env, message] of cases) {
        const r = await guest("n2", ["bash", PROVISION, ...args], env);
        assert.equal(r.exitCode, 1, `${what}: ${r.stdout}`);
        assert.match(r.stderr, message, what);
        assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: ${r.stderr}`);
      }
      const left = await sh(
        "n2",
        'for p in /etc/swarmnet /usr/local/bin/swarmnet /etc/systemd/system/swarmnet-* /run/swarmnet/*.pid /var/log/swarmnet; do [ ! -e "$p" ] || echo "$p"; done',
      );
      assert.equal(left.stdout, "", "nothing written");
    });

    it("vagrant up: install everywhere, manager on n1, join on n2 — node ls on n1 shows both Ready at their private addresses", async function () {
      this.timeout(3 * STEP_TIMEOUT_MS);
      const started = Date.now();
      const [n1, n2] = await provisionAll();
      console.log(`      provisioned n1 and n2: ${Math.round((Date.now() - started) / 1000)} s`);
      assert.match(n1 ?? "", /swarm init --advertise-addr 100\.64\.1\.1/);
      assert.match(n2 ?? "", /swarm join 100\.64\.1\.1:2377/);
      assert.doesNotMatch(
        `${n1}${n2}`,
        /npm ci|building swarmnet|installing/,
        "the guests' build and packages are current",
      );
      assert.doesNotMatch(`${n1}${n2}`, /SWMTKN/, "no token in the output");
      const rows = await nodeLs();
      assert.deepEqual(rows.map((r) => [r.Hostname, r.Status, r.Addr]).sort(), [
        ["n1", "Ready", "100.64.1.1"],
        ["n2", "Ready", "100.64.1.2"],
      ]);
      // The units' own command lines, run from the units' files: the node's `swarmnet`
      // command runs the checkout's bundle.
      const ps = await sh(
        "n1",
        "for f in /run/swarmnet/*.pid; do tr '\\0' ' ' </proc/$(cat $f)/cmdline; echo; done",
      );
      assert.match(ps.stdout, /^\/usr\/bin\/etcd $/m);
      assert.match(
        ps.stdout,
        /dist\/bundle\/swarmnet\.js manager --node-name=n1 --listen=100\.64\.1\.1:2377 --etcd=http:\/\/127\.0\.0\.1:2379 --state-dir=\/var\/lib\/swarmnet /,
      );
      assert.match(
        ps.stdout,
        /dist\/bundle\/swarmnet\.js agent --node-name=n1 --advertise-addr=100\.64\.1\.1 --manager=100\.64\.1\.1:2377 --state-dir=\/var\/lib\/swarmnet /,
      );
    });

    it("run twice: nothing restarted, re-initialised, re-joined or duplicated", async function () {
      this.timeout(3 * STEP_TIMEOUT_MS);
      const before = await Promise.all(NODES.map(snapshot));
      for (const s of before) assert.equal(s.exitCode, 0, s.stderr);
      const [n1, n2] = await provisionAll();
      assert.match(n1 ?? "", /already in a swarm: no init/);
      assert.match(n2 ?? "", /already in a swarm: no join/);
      assert.doesNotMatch(`${n1}${n2}`, /starting swarmnet|swarm init --|swarm join 1/);
      const after = await Promise.all(NODES.map(snapshot));
      assert.deepEqual(
        after.map((s) => s.stdout),
        before.map((s) => s.stdout),
      );
      const rows = await nodeLs();
      assert.deepEqual(rows.map((r) => r.Hostname).sort(), ["n1", "n2"], "no node twice");
    });
  });
}

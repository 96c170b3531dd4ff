/**
 * The lab on the real kernel: built, reachable, etcd answering across nodes, and torn
 * down to nothing — also after its agents were killed mid-flight. Every lab gets a
 * unique name and is removed in `after`, whatever happened.
 */
import assert from "node:assert/strict";
import { Executor } from "../../common/executor.js";
import { Lab } from "../../deploy/lab/lab.js";
import { swarmnet } from "../support/cli.js";
import { isRoot, labNamespaces, labProcesses, uniqueLabName } from "../support/netns.js";

describe("lab (netns, real kernel)", function () {
  const ex = new Executor();
  const lab = uniqueLabName();

  before(function () {
    if (!isRoot) this.skip();
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", lab]);
  });

  it("comes up with 3 nodes and a client, processes up", async () => {
    const up = await swarmnet(["lab", "up", "--name", lab, "--nodes", "3"]);
    assert.equal(up.exitCode, 0, up.stderr);
    // Progress per node, as each agent comes up, joins and is ready.
    for (const n of ["n1", "n2", "n3"]) {
      assert.match(up.stdout, new RegExp(`: ${n}: agent up \\([1-3]/3\\)$`, "m"));
      assert.match(up.stdout, new RegExp(`: ${n}: ready \\([1-3]/3\\)$`, "m"));
    }
    assert.match(up.stdout, /: n3: joined \([12]\/2\)$/m);
    const status = await swarmnet(["lab", "status", "--name", lab, "--format", "json"]);
    assert.equal(status.exitCode, 0, status.stderr);
    const rows = JSON.parse(status.stdout) as { name: string; role: string; agent: boolean; etcd: boolean }[];
    assert.deepEqual(
      rows.map((r) => [r.name, r.role]),
      [
        ["n1", "manager"],
        ["n2", "worker"],
        ["n3", "worker"],
        ["client", "client"],
      ],
    );
    assert.ok(rows.filter((r) => r.role !== "client").every((r) => r.agent === true));
    assert.equal(rows[0]?.etcd, true);
  });

  it("n2 pings n1 over the underlay", async () => {
    const r = await swarmnet(["lab", "exec", "--name", lab, "n2", "--", "ping", "-c1", "-W2", "100.64.1.1"]);
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });

  it("the client reaches every node", async () => {
    for (const addr of ["100.64.1.1", "100.64.1.2", "100.64.1.3"]) {
      const r = await swarmnet(["lab", "exec", "--name", lab, "client", "--", "ping", "-c1", "-W2", addr]);
      assert.equal(r.exitCode, 0, `client -> ${addr}: ${r.stdout}${r.stderr}`);
    }
  });

  it("etcd answers a put and get over mutual TLS on the manager node; another node without its certificate is refused", async () => {
    const sh = "etcdctl put lab-key hello && etcdctl get --print-value-only lab-key";
    const r = await swarmnet(["lab", "exec", "--name", lab, "n1", "--", "sh", "-c", sh]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").pop(), "hello");
    // The accessor tools beside the managers use (chaos invariants): the same store.
    const etcd = new Lab(ex).etcd(lab);
    assert.deepEqual(etcd.endpoints, ["https://100.64.1.1:2379"]);
    const read = await etcd.host.run(["etcdctl", "get", "--print-value-only", "lab-key"], etcd.etcdctlEnv);
    assert.equal(read.stdout.trim(), "hello", read.stderr);
    assert.throws(() => new Lab(ex).etcd(lab, "n2"), /no manager node "n2"/);
    for (const url of ["http://100.64.1.1:2379", "https://100.64.1.1:2379"]) {
      const stranger = await swarmnet([
        "lab",
        "exec",
        "--name",
        lab,
        "n3",
        "--",
        "etcdctl",
        `--endpoints=${url}`,
        "--insecure-skip-tls-verify",
        "--dial-timeout=2s",
        "--command-timeout=4s",
        "get",
        "lab-key",
      ]);
      assert.notEqual(
        stranger.exitCode,
        0,
        `${url} answered without a client certificate: ${stranger.stdout}`,
      );
      assert.ok(!stranger.stdout.includes("hello"));
    }
  });

  it("puts swarmnet on PATH inside a node, pointed at the lab", async () => {
    const r = await swarmnet([
      "lab",
      "exec",
      "--name",
      lab,
      "n2",
      "--",
      "sh",
      "-c",
      'command -v swarmnet && echo "$SWARMNET_CONFIG"',
    ]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /\/bin\/swarmnet\n.*\/n2\/config\.json/);
  });

  it("is isolated from the host: no host link, no route into the lab", async () => {
    const hostLinks = await ex.ipJson<{ ifname: string }>(["link", "show"]);
    assert.ok(!hostLinks.some((l) => l.ifname.startsWith("n1") || l.ifname === "client"));
    const routes = await ex.ip(["route", "show"], { netns: `sn-${lab}-n1` });
    assert.ok(!/default/.test(routes), `no default route in a node: ${routes}`);
  });

  it("refuses a second lab up with the same name and leaves the first intact", async () => {
    const before = (await labNamespaces(ex, lab)).sort();
    const r = await swarmnet(["lab", "up", "--name", lab]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /already exists/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.deepEqual((await labNamespaces(ex, lab)).sort(), before, "the first lab is untouched");
  });

  it("goes down to nothing after its agents were killed with -9, and down twice is fine", async () => {
    const status = JSON.parse(
      (await swarmnet(["lab", "status", "--name", lab, "--format", "json"])).stdout,
    ) as unknown[];
    assert.equal(status.length, 4);
    for (const pid of labProcesses(lab)) {
      try {
        const cmd = (await import("node:fs")).readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (cmd.includes("agent")) process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    const down = await swarmnet(["lab", "down", "--name", lab]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(await labNamespaces(ex, lab), []);
    assert.deepEqual(labProcesses(lab), []);
    const again = await swarmnet(["lab", "down", "--name", lab]);
    assert.equal(again.exitCode, 0, again.stderr);
  });
});

describe("lab bad input", function () {
  const ex = new Executor();
  const lab = uniqueLabName();

  before(function () {
    if (!isRoot) this.skip();
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", lab]);
  });

  const cases: [string, string[], RegExp][] = [
    ["--nodes 0", ["lab", "up", "--name", lab, "--nodes", "0"], /--nodes must be a whole number/],
    ["--nodes abc", ["lab", "up", "--name", lab, "--nodes", "abc"], /--nodes must be a whole number.*"abc"/],
    [
      "--managers > --nodes",
      ["lab", "up", "--name", lab, "--nodes", "2", "--managers", "3"],
      /cannot exceed/,
    ],
    ["a bad name", ["lab", "up", "--name", "Bad_Name"], /invalid lab name/],
    ["exec on a missing lab", ["lab", "exec", "--name", lab, "n1", "--", "true"], /does not exist/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one clear line, exit 1, nothing built`, async () => {
      const r = await swarmnet(args);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.deepEqual(await labNamespaces(ex, lab), []);
    });
  }

  it("exec on an unknown node names the node and the nodes there are", async () => {
    const up = await swarmnet(["lab", "up", "--name", lab, "--nodes", "1"]);
    assert.equal(up.exitCode, 0, up.stderr);
    const r = await swarmnet(["lab", "exec", "--name", lab, "n7", "--", "true"]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /has no node "n7" \(nodes: n1, client\)/);
  });
});

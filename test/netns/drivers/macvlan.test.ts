/**
 * macvlan on the real kernel, through the CLI: in bridge mode on a node's `eth0` a
 * container gets an address on the underlay segment and answers the `client` namespace
 * and another node directly, as a physical host would. Where this kernel lacks a feature
 * (802.1q for `parent=eth0.10`, ipvlan) and for bad parents: one clear line naming it,
 * exit 1, nothing created.
 */
import assert from "node:assert/strict";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

const MV_IP = "100.64.200.10";

describe("drivers: macvlan (netns lab)", function () {
  const name = uniqueLabName();
  const lab = new LabCli(name);

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "2"]);
    assert.equal(up.exitCode, 0, up.stderr);
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
  });

  it("a container on macvlan (bridge mode, parent eth0) answers client and another node at its own address", async () => {
    const mv = ["--subnet", "100.64.0.0/16", "--gateway", "100.64.0.1", "--ip-range", "100.64.200.0/24"];
    await lab.ok("n1", "network", "create", "-d", "macvlan", ...mv, "-o", "parent=eth0", "mv");
    assert.match(await lab.ok("n1", "network", "ls"), /^[0-9a-f]{12}\s+mv\s+macvlan\s+local$/m);
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "m1",
      "--network",
      "mv",
      "--ip",
      MV_IP,
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    const fromClient = await eventually(async () => {
      const r = await lab.exec("client", "curl", "-s", "-m", "2", `http://${MV_IP}:80/`);
      return r.exitCode === 0 && /Task: m1/.test(r.stdout);
    }, 30);
    assert.ok(fromClient, "client reaches the container's own address");
    const fromN2 = await eventually(
      async () => (await lab.exec("n2", "ping", "-c1", "-W1", MV_IP)).exitCode === 0,
      10,
    );
    assert.ok(fromN2, "another node reaches it");
    const link = (await lab.sx("n1", "exec", "m1", "--", "ip", "-d", "link", "show", "eth0")).stdout;
    assert.match(link, /macvlan mode bridge/);
  });

  it("refuses 802.1q, ipvlan and bad parents here with one clear line, and creates nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["-d", "macvlan", "--subnet", "10.20.0.0/24", "-o", "parent=eth0.10", "t1"], /802\.1q/],
      [
        ["-d", "ipvlan", "--subnet", "10.21.0.0/24", "-o", "parent=eth0", "t2"],
        /ipvlan.*cannot run: the kernel has no ipvlan devices/,
      ],
      [["-d", "macvlan", "--subnet", "10.22.0.0/24", "t3"], /needs its parent interface/],
      [
        ["-d", "macvlan", "--subnet", "10.23.0.0/24", "-o", "parent=eth7", "t4"],
        /parent interface eth7 does not exist on this node/,
      ],
    ];
    const snapshot = async () => ({
      networks: await lab.ok("n1", "network", "ls"),
      links: (await lab.exec("n1", "ip", "-o", "link", "show")).stdout,
    });
    const before = await snapshot();
    for (const [args, message] of cases) {
      const r = await lab.sx("n1", "network", "create", ...args);
      assert.equal(r.exitCode, 1, args.join(" "));
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.deepEqual(await snapshot(), before);
  });
});

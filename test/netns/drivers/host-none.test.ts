/**
 * The host and none networks on the real kernel, through the CLI as a person uses them:
 * `run --network host` shares the node's stack (a server in it answers on the node's
 * address, no interface appears), `run --network none` has only `lo` and no route,
 * `network ls` lists the node's own networks as Docker does, and what Docker refuses is
 * refused with Docker's words, changing nothing.
 */
import assert from "node:assert/strict";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

describe("drivers: host and none (netns lab)", function () {
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const nodeLinks = async () =>
    (await lab.exec("n1", "ip", "-o", "link", "show")).stdout
      .split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
      .filter((l) => l !== "")
      .sort();

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "2"]);
    assert.equal(up.exitCode, 0, up.stderr);
    await lab.ok("n1", "network", "create", "-d", "overlay", "--attachable", "ov");
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
  });

  it("network ls lists bridge, host and none beside the cluster's networks, as Docker does", async () => {
    const ls = await lab.ok("n1", "network", "ls");
    for (const [net, driver] of [
      ["bridge", "bridge"],
      ["host", "host"],
      ["none", "null"],
    ])
      assert.match(ls, new RegExp(`^[0-9a-f]{12}\\s+${net}\\s+${driver}\\s+local$`, "m"));
    assert.match(ls, /\s+ingress\s+overlay\s+swarm$/m);
    const builtin = await lab.ok("n1", "network", "ls", "--format", "json", "-f", "type=builtin");
    assert.deepEqual(
      (JSON.parse(builtin) as { Name: string }[]).map((n) => n.Name),
      ["bridge", "host", "none"],
    );
  });

  it("--network host shares the node's stack: a server in it answers on the node's address, no interface appears", async () => {
    const before = await nodeLinks();
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "h",
      "--network",
      "host",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "8091",
    );
    const answered = await eventually(async () => {
      const r = await lab.exec("client", "curl", "-s", "-m", "2", "http://100.64.1.1:8091/");
      return r.exitCode === 0 && /Task: h/.test(r.stdout);
    });
    assert.ok(answered, "the host-network container answers on the node's underlay address");
    assert.deepEqual(await nodeLinks(), before, "no interface appeared on the node");
    const inspect = JSON.parse(await lab.ok("n1", "inspect", "h")) as {
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }[];
    assert.deepEqual(Object.keys(inspect[0]?.NetworkSettings.Networks ?? {}), ["host"]);
  });

  it("--network none has only lo and no routes", async () => {
    await lab.ok("n1", "run", "-d", "--name", "n", "--network", "none", "--", "sleep", "3600");
    const links = (await lab.sx("n1", "exec", "n", "--", "ip", "-o", "link", "show")).stdout
      .trim()
      .split("\n");
    assert.equal(links.length, 1);
    assert.match(links[0] ?? "", /^1: lo:/);
    const routes = await lab.sx("n1", "exec", "n", "--", "ip", "route", "show");
    assert.equal(routes.exitCode, 0);
    assert.equal(routes.stdout.trim(), "");
  });

  it("refuses what Docker refuses, with Docker's words, and changes nothing", async () => {
    await lab.ok("n1", "run", "-d", "--name", "o", "--network", "ov", "--", "sleep", "3600");
    const cases: [string[], RegExp][] = [
      [
        ["network", "connect", "ov", "n"],
        /container cannot be connected to multiple networks with one of the networks in private \(none\) mode/,
      ],
      [
        ["network", "connect", "ov", "h"],
        /container sharing network namespace with another container or host cannot be connected to any other network/,
      ],
      [
        ["network", "connect", "host", "o"],
        /container cannot be disconnected from host network or connected to host network/,
      ],
      [["network", "connect", "none", "o"], /private \(none\) mode/],
      [
        ["run", "--network", "host", "--network", "ov", "--", "true"],
        /conflicting options: cannot attach both user-defined and non-user-defined network-modes/,
      ],
      [
        ["run", "--ip", "10.9.9.9", "--", "true"],
        /user specified IP address is supported on user defined networks only/,
      ],
      [["network", "rm", "none"], /none is a pre-defined network and cannot be removed/],
    ];
    const psBefore = await lab.ok("n1", "ps", "-a", "--format", "json");
    const linksBefore = await nodeLinks();
    for (const [args, message] of cases) {
      const r = await lab.sx("n1", ...args);
      assert.equal(r.exitCode, 1, `${args.join(" ")} must fail`);
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}`);
    }
    assert.deepEqual(JSON.parse(await lab.ok("n1", "ps", "-a", "--format", "json")), JSON.parse(psBefore));
    assert.deepEqual(await nodeLinks(), linksBefore);
  });
});

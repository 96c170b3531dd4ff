/**
 * The applier against a recording executor: what runs for a first apply, a one-backend
 * change, bad input, drift and a failed conntrack cleanup.
 */
import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";
import { ErrorCode } from "../../../common/errors.js";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { Mesh, renderRuleset, type MeshState } from "../../../agent/ingress/index.js";

const NS = "sn-x-n1";
const WEB: MeshState = {
  ingress: [
    {
      serviceId: "web",
      protocol: "tcp",
      publishedPort: 8080,
      targetPort: 80,
      backends: ["10.255.0.5", "10.255.0.6"],
    },
  ],
  ingressSource: "10.255.0.2",
};

function webWith(backends: string[]): MeshState {
  return { ...WEB, ingress: [{ ...(WEB.ingress?.[0] ?? assert.fail()), backends }] };
}

function setup(): { runner: RecordingRunner; mesh: Mesh; clock: VirtualClock } {
  const runner = new RecordingRunner();
  const clock = new VirtualClock();
  return { runner, clock, mesh: new Mesh(new Executor(runner), { netns: NS, clock }) };
}

describe("ingress mesh applier", () => {
  it("first apply replaces the table whole, then sets the conntrack timeout and forwarding", async () => {
    const { runner, mesh } = setup();
    const stats = await mesh.apply(WEB);
    assert.equal(stats.mode, "full");
    const [nft, ...rest] = runner.commands;
    assert.equal([nft?.file, ...(nft?.args ?? [])].join(" "), `ip netns exec ${NS} nft -f -`);
    assert.equal(nft?.input, renderRuleset(WEB));
    assert.deepEqual(
      rest.map((c) => [c.file, ...c.args].join(" ")),
      [
        `ip netns exec ${NS} sysctl -q -w net.netfilter.nf_conntrack_tcp_timeout_established=432000`,
        `ip netns exec ${NS} sysctl -q -w net.ipv4.ip_forward=1`,
      ],
    );
    assert.equal(stats.size.elements, 3);
  });

  it("a one-backend change is one small transaction, then that backend's flows are deleted", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    const stats = await mesh.apply(webWith(["10.255.0.5", "10.255.0.9"]));
    assert.deepEqual(runner.lines(), [
      `ip netns exec ${NS} nft -f -`,
      "  delete element ip swarmnet ingress_backends { tcp . 8080 . 0x01000001 }",
      "  add element ip swarmnet ingress_backends { tcp . 8080 . 0x01000001 : 10.255.0.9 . 80 }",
    ]);
    assert.equal(stats.mode, "incremental");
    assert.equal(stats.elementsAdded, 1);
    assert.equal(stats.elementsDeleted, 1);
    assert.equal(stats.conntrackQueued, 1);
    // The flows go right after the call returned, before any later change.
    const next = mesh.apply(webWith(["10.255.0.9"]));
    await next;
    assert.deepEqual(runner.lines().slice(3, 4), [
      `ip netns exec ${NS} conntrack -D -p tcp --orig-port-dst 8080 --reply-src 10.255.0.6 --reply-port-src 80`,
    ]);
    assert.match(runner.lines()[4] ?? "", /nft -f -/);
  });

  it("applying the same state again runs nothing", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    const stats = await mesh.apply(webWith(["10.255.0.6", "10.255.0.5"]));
    assert.equal(stats.mode, "noop");
    assert.deepEqual(runner.commands, []);
  });

  it("bad input runs nothing and keeps the applied state", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    const twice: MeshState = {
      ...WEB,
      ingress: [...(WEB.ingress ?? []), { ...(WEB.ingress?.[0] ?? assert.fail()), serviceId: "api" }],
    };
    await assert.rejects(mesh.apply(twice), { code: ErrorCode.PortInUse });
    await assert.rejects(
      mesh.apply({
        ...WEB,
        ingress: [{ ...(WEB.ingress?.[0] ?? assert.fail()), protocol: "icmp" as "tcp" }],
      }),
      { code: ErrorCode.InvalidArgument },
    );
    assert.deepEqual(runner.commands, []);
    assert.equal((await mesh.apply(WEB)).mode, "noop");
  });

  it("an incremental change that meets drift is redone as a full replace", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    runner.on(
      /nft -f -/,
      { exitCode: 1, stderr: "Error: Could not process rule: No such file or directory\n" },
      1,
    );
    const stats = await mesh.apply(webWith(["10.255.0.5"]));
    assert.equal(stats.mode, "full");
    assert.equal(stats.repairedDrift, true);
    const nfts = runner.commands.filter((c) => c.args.includes("nft"));
    assert.equal(nfts.length, 2);
    assert.equal(nfts[1]?.input, renderRuleset(webWith(["10.255.0.5"])));
  });

  it("a failed conntrack cleanup is reported and retried on the next apply", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    // Fails twice: the cleanup queued after the apply (logged), then the one asked for here.
    runner.on(/conntrack -D/, { exitCode: 127, stderr: "ENOENT: not installed" }, 2);
    await mesh.apply(webWith(["10.255.0.5"])); // the ruleset change lands; the cleanup fails after it
    await assert.rejects(mesh.forgetFlows(), { code: ErrorCode.ToolMissing });
    runner.clear();
    runner.on(/conntrack -D/, {
      exitCode: 0,
      stderr: "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n",
    });
    const stats = await mesh.apply(webWith(["10.255.0.5"]));
    assert.equal(stats.mode, "noop");
    assert.equal(await mesh.forgetFlows(), 0, "the retry ran right after the apply");
    assert.deepEqual(runner.lines(), [
      `ip netns exec ${NS} conntrack -D -p tcp --orig-port-dst 8080 --reply-src 10.255.0.6 --reply-port-src 80`,
    ]);
  });

  it("unpublishing a port forgets its flows with one filter", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    await mesh.apply({ ingressSource: "10.255.0.2" });
    await mesh.forgetFlows();
    assert.deepEqual(runner.lines().slice(-1), [
      `ip netns exec ${NS} conntrack -D -p tcp --orig-port-dst 8080`,
    ]);
  });

  it("a new ingress source address re-renders the table whole", async () => {
    const { runner, mesh } = setup();
    await mesh.apply(WEB);
    runner.clear();
    const stats = await mesh.apply({ ...WEB, ingressSource: "10.255.0.3" });
    assert.equal(stats.mode, "full");
    assert.match(runner.commands[0]?.input ?? "", /snat to 10\.255\.0\.3/);
  });

  it("flush removes the table, whether or not it exists", async () => {
    const { runner, mesh } = setup();
    await mesh.flush();
    assert.deepEqual(runner.lines(), [
      `ip netns exec ${NS} nft -f -`,
      "  table ip swarmnet",
      "  delete table ip swarmnet",
    ]);
  });

  it("rejects a bad config field by name", () => {
    assert.throws(() => new Mesh(new Executor(new RecordingRunner()), { config: { resyncIntervalMs: 5 } }), {
      code: ErrorCode.InvalidConfig,
      message: /^ingress\.resyncIntervalMs: /,
    });
  });
});

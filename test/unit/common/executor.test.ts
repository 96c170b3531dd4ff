import assert from "node:assert/strict";
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { FakeKernel } from "../../../common/fake-kernel.js";

describe("executor", () => {
  it("renders an ip batch as one `ip -n NS -batch -` run with one line per command", async () => {
    const runner = new RecordingRunner();
    await new Executor(runner).ipBatch(["link add br0 type bridge", "link set br0 up"], { netns: "sn-x-n1" });
    assert.deepEqual(runner.lines(), [
      "ip -n sn-x-n1 -batch -",
      "  link add br0 type bridge",
      "  link set br0 up",
    ]);
  });

  it("skips an empty batch entirely", async () => {
    const runner = new RecordingRunner();
    await new Executor(runner).ipBatch([]);
    await new Executor(runner).bridgeBatch([]);
    assert.equal(runner.commands.length, 0);
  });

  it("applies nft scripts atomically through `nft -f -`, inside a namespace via ip netns exec", async () => {
    const runner = new RecordingRunner();
    const ex = new Executor(runner);
    await ex.nftApply("add table ip swarmnet\n");
    await ex.nftApply("add table ip swarmnet\n", { netns: "sn-x-n2" });
    assert.deepEqual(runner.lines(), [
      "nft -f -",
      "  add table ip swarmnet",
      "ip netns exec sn-x-n2 nft -f -",
      "  add table ip swarmnet",
    ]);
  });

  const cases: [string, string, string, ErrorCode][] = [
    ["ip", "RTNETLINK answers: File exists", "link add br0 type bridge", ErrorCode.KernelExists],
    ["ip", 'Cannot find device "vx9"', "link del vx9", ErrorCode.KernelNotFound],
    ["ip", "Error: Unknown device type.", "link add wg0 type wireguard", ErrorCode.KernelUnsupported],
    ["ip", "RTNETLINK answers: Operation not permitted", "link add x type veth", ErrorCode.PermissionDenied],
    ["nft", "Error: syntax error, unexpected junk\nadd junk\n^^^^", "-f -", ErrorCode.KernelRejected],
  ];
  for (const [tool, stderr, args, code] of cases) {
    it(`maps ${tool} failing with "${stderr.split("\n")[0]}" to ${code}`, async () => {
      const runner = new RecordingRunner().on(/./, { exitCode: 2, stderr });
      const ex = new Executor(runner);
      const run = tool === "ip" ? ex.ip(args.split(" ")) : ex.nftApply("add junk\n");
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof SwarmnetError);
        assert.equal(err.code, code);
        assert.ok(!err.message.includes("\n"), "one-line message");
        assert.ok(err.message.startsWith(`${tool} `), `names the command: ${err.message}`);
        return true;
      });
    });
  }

  it("reports a missing tool as SWARMNET_TOOL_MISSING", async () => {
    const runner = new RecordingRunner().on("bridge", { exitCode: 127, stderr: "ENOENT: not installed" });
    await assert.rejects(new Executor(runner).bridge(["fdb", "show"]), { code: ErrorCode.ToolMissing });
  });

  it("treats deleting a namespace that is already gone as done", async () => {
    const runner = new RecordingRunner().on("netns delete", {
      exitCode: 1,
      stderr: 'Cannot remove namespace file "/run/netns/x": No such file or directory',
    });
    await new Executor(runner).netnsDelete("x");
  });

  it("answers scripted output and parses ip -j", async () => {
    const runner = new RecordingRunner().on("-j link show", { stdout: '[{"ifname":"eth0"}]' });
    const links = await new Executor(runner).ipJson<{ ifname: string }>(["link", "show"], { netns: "n" });
    assert.deepEqual(links, [{ ifname: "eth0" }]);
  });
});

describe("executor: one process for many namespaces (fake kernel)", () => {
  it("reads ip -j in each namespace: its answer, undefined where the namespace or the device is gone", async () => {
    const kernel = new FakeKernel();
    const ex = new Executor(kernel);
    for (const ns of ["a", "b"]) await ex.netnsAdd(ns);
    await ex.ip(["addr", "add", "10.0.0.1/8", "dev", "lo"], { netns: "a" });
    const before = ex.spawned.get("sh") ?? 0;
    const r = await ex.ipJsonEach<{ ifname: string; addr_info?: { local: string }[] }>(
      ["a", "gone", "b"],
      ["addr", "show", "dev", "lo"],
    );
    assert.equal((ex.spawned.get("sh") ?? 0) - before, 1, "one process");
    assert.deepEqual(
      r.get("a")?.flatMap((l) => (l.addr_info ?? []).map((i) => i.local)),
      ["10.0.0.1"],
    );
    assert.equal(r.get("gone"), undefined);
    assert.equal(r.get("b")?.[0]?.ifname, "lo");
    assert.deepEqual(
      await ex.ipJsonEach(["a"], ["addr", "show", "dev", "nosuch"]),
      new Map([["a", undefined]]),
    );
  });
});

/**
 * The gateway bridge's passes (agent/gwbridge/gwbridge.ts) on a recording runner: which
 * read the node's links and which only change what differs from the last pass — a `run`
 * on a node with hundreds of containers must not read them all (#16).
 */
import assert from "node:assert/strict";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { GatewayBridge, gatewayVeth, type GatewayPort } from "../../../agent/gwbridge/gwbridge.js";

const port = (id: string, ip: string): GatewayPort => ({
  containerId: id,
  netns: `sn-c-${id}`,
  ip,
  mtu: 1450,
});
const A = port("a", "172.18.0.2");
const B = port("b", "172.18.0.3");
const LINK_SHOW = "ip -j -d link show";

describe("gateway bridge passes", () => {
  let runner: RecordingRunner;
  let gw: GatewayBridge;
  const heads = () => runner.lines().filter((l) => !l.startsWith("  "));
  const reads = () => heads().filter((l) => l === LINK_SHOW).length;

  beforeEach(() => {
    runner = new RecordingRunner();
    gw = new GatewayBridge(new Executor(runner), undefined);
  });

  it("reads the links on the first pass, then a container's arrival or departure changes only its port", async () => {
    await gw.reconcile([A], false);
    assert.equal(reads(), 1);
    assert.ok(runner.lines().includes("  link add gwbridge type bridge"));
    runner.clear();

    await gw.reconcile([A, B], false);
    assert.equal(reads(), 0);
    assert.deepEqual(heads(), ["ip -batch -", `ip -n ${B.netns} -batch -`]);
    assert.ok(
      runner
        .lines()
        .includes(`  link add ${gatewayVeth("b")} mtu 1450 type veth peer name gwbr0 netns ${B.netns}`),
    );
    runner.clear();

    // A's namespace went first, and its veth with it: not an error.
    runner.on(`link del ${gatewayVeth("a")}`, { exitCode: 1, stderr: 'Cannot find device "gw"' });
    await gw.reconcile([B], false);
    assert.deepEqual(heads(), [`ip link del ${gatewayVeth("a")}`]);
    runner.clear();

    await gw.reconcile([], false);
    assert.deepEqual(heads(), [`ip link del ${gatewayVeth("b")}`, "ip link del gwbridge"]);
  });

  it("a resync pass reads the links and repairs a missing port; a pass after a failure reads them too", async () => {
    await gw.reconcile([A], false);
    runner.clear();
    await gw.reconcile([A], true);
    assert.equal(reads(), 1);
    assert.ok(
      runner
        .lines()
        .includes(`  link add ${gatewayVeth("a")} mtu 1450 type veth peer name gwbr0 netns ${A.netns}`),
    );
    runner.clear();

    runner.on(`ip -n ${B.netns} -batch -`, { exitCode: 2, stderr: "RTNETLINK answers: File exists" }, 1);
    await assert.rejects(gw.reconcile([A, B], false));
    runner.clear();
    await gw.reconcile([A, B], false);
    assert.equal(reads(), 1, "after a failure the next pass starts from the kernel");
  });
});

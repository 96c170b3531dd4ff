/**
 * Cluster formation in the netns lab, with real processes on every node: by hand on a
 * bare lab (`--no-init`: init on n1, join n2 and n3, a rotated token refused), and the
 * lab's own formation with three managers. Each lab has a unique name and is removed in
 * `after`, whatever happened.
 */
import assert from "node:assert/strict";
import { swarmnet } from "../../support/cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

interface NodeRow {
  Hostname: string;
  Status: string;
  Role: string;
  ManagerStatus: string;
  Self: boolean;
}

async function waitReady(lab: string, count: number): Promise<NodeRow[]> {
  const deadline = Date.now() + 30_000;
  let rows: NodeRow[] = [];
  while (Date.now() < deadline) {
    const ls = await swarmnet([
      "lab",
      "exec",
      "--name",
      lab,
      "n1",
      "--",
      "swarmnet",
      "node",
      "ls",
      "--format",
      "json",
    ]);
    if (ls.exitCode === 0) {
      rows = JSON.parse(ls.stdout) as NodeRow[];
      if (rows.filter((r) => r.Status === "Ready").length === count) return rows;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.fail(`nodes not ready: ${JSON.stringify(rows)}`);
}

describe("cluster formation (netns lab)", function () {
  this.timeout(180_000);
  const bare = uniqueLabName();
  const formed = uniqueLabName();

  before(function () {
    if (!isRoot) this.skip();
  });

  after(async () => {
    if (!isRoot) return;
    await swarmnet(["lab", "down", "--name", bare]);
    await swarmnet(["lab", "down", "--name", formed]);
  });

  it("by hand: init on n1, join n2 and n3; node ls shows three ready nodes with roles; a rotated token no longer joins", async () => {
    const up = await swarmnet(["lab", "up", "--name", bare, "--nodes", "4", "--no-init"]);
    assert.equal(up.exitCode, 0, up.stderr);
    const exec = (node: string, ...cmd: string[]) =>
      swarmnet(["lab", "exec", "--name", bare, node, "--", "swarmnet", ...cmd]);

    const notYet = await exec("n1", "node", "ls");
    assert.equal(notYet.exitCode, 1);
    assert.match(notYet.stderr, /not part of a swarm: .*run 'swarmnet swarm init'/);

    const init = await exec("n1", "swarm", "init", "--advertise-addr", "100.64.1.1");
    assert.equal(init.exitCode, 0, init.stderr);
    const worker = (await exec("n1", "swarm", "join-token", "-q", "worker")).stdout.trim();
    const manager = (await exec("n1", "swarm", "join-token", "-q", "manager")).stdout.trim();
    assert.match(worker, /^SWMTKN-1-/);
    const j2 = await exec("n2", "swarm", "join", "--token", manager, "100.64.1.1:2377");
    assert.equal(j2.exitCode, 0, j2.stderr);
    assert.match(j2.stdout, /joined a swarm as a manager/);
    const j3 = await exec("n3", "swarm", "join", "--token", worker, "100.64.1.1:2377");
    assert.equal(j3.exitCode, 0, j3.stderr);
    assert.match(j3.stdout, /joined a swarm as a worker/);

    const rows = await waitReady(bare, 3);
    assert.deepEqual(
      rows.map((r) => [r.Hostname, r.Status, r.Role]),
      [
        ["n1", "Ready", "manager"],
        ["n2", "Ready", "manager"],
        ["n3", "Ready", "worker"],
      ],
    );
    assert.equal(rows.find((r) => r.Hostname === "n1")?.ManagerStatus, "Leader");
    assert.equal(rows.find((r) => r.Self)?.Hostname, "n1");

    const table = await exec("n2", "node", "ls");
    assert.match(table.stdout, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS$/m);
    assert.match(table.stdout, /\s\*\s+n2\s+Ready\s+Active\b/m);
    // Cluster state is the managers' to show: a worker is refused, as Docker refuses it.
    const onWorker = await exec("n3", "node", "ls");
    assert.equal(onWorker.exitCode, 1);
    assert.match(onWorker.stderr, /This node is not a swarm manager/);

    const rotate = await exec("n1", "swarm", "join-token", "--rotate", "-q", "worker");
    assert.equal(rotate.exitCode, 0, rotate.stderr);
    const refused = await exec("n4", "swarm", "join", "--token", worker, "100.64.1.1:2377");
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /this join token is not valid for this cluster/);
    const joined = await exec("n4", "swarm", "join", "--token", rotate.stdout.trim(), "100.64.1.1:2377");
    assert.equal(joined.exitCode, 0, joined.stderr);
    await waitReady(bare, 4);

    // The agent reported its kernel capabilities over its stream.
    const inspect = await exec("n1", "node", "inspect", "n4");
    const [me] = JSON.parse(inspect.stdout) as { Description: { Capabilities: { Name: string }[] } }[];
    assert.ok(me?.Description.Capabilities.some((c) => c.Name === "vxlan"));

    // Leaving: the node turns Down (its stream closes) and its credential is revoked.
    const leave = await exec("n4", "swarm", "leave");
    assert.equal(leave.exitCode, 0, leave.stderr);
    await waitReady(bare, 3);
  });

  it("lab up forms the cluster itself: three managers, one leader, every node ready", async () => {
    const up = await swarmnet(["lab", "up", "--name", formed, "--nodes", "4", "--managers", "3"]);
    assert.equal(up.exitCode, 0, up.stderr);
    const rows = await waitReady(formed, 4);
    assert.deepEqual(
      rows.map((r) => [r.Hostname, r.Role]),
      [
        ["n1", "manager"],
        ["n2", "manager"],
        ["n3", "manager"],
        ["n4", "worker"],
      ],
    );
    assert.equal(rows.filter((r) => r.ManagerStatus === "Leader").length, 1);
    assert.equal(rows.filter((r) => r.ManagerStatus === "Reachable").length, 2);
    // Cluster state is the managers' to show (a worker's CLI is refused, as Docker's is).
    const ls = await swarmnet(["lab", "exec", "--name", formed, "n3", "--", "swarmnet", "network", "ls"]);
    assert.match(ls.stdout, /ingress\s+overlay\s+swarm/, ls.stderr);
  });
});

/**
 * Issue 17 acceptance, points 2–5, on one lab (4 nodes: n1–n3 managers with an etcd
 * member each, n4 a worker), cases in an order that leaves each one's lab usable by the
 * next (etcd's quorum loss last):
 *
 * - the small input cases: `network create -o foo` does what Docker does (foo=""),
 *   `run --ip` without `--network` and `swarm join …:99999` are one clear line each;
 * - `node rm [--force]` of the node the command runs on, and of another manager, refused;
 * - a worker removed by a manager can `swarm leave --force` and join again (a token with
 *   a wrong secret in between is "not valid for this cluster", its secret not echoed);
 * - 10,000 garbage connections to a manager's port from `client`: the manager's RSS after
 *   minus before comes back under 20 MB (bytes: read after a warm-up of 1,000, and again
 *   until the collector gave back what the burst allocated; a leak would never come back);
 * - two of three etcd members paused: the first control call (`service ls`'s, as n1's CLI
 *   makes it, timed inside its process so a loaded machine's Node start-up is not
 *   counted) fails with the quorum message within 3 s, and the CLI prints it as one line;
 *   one member resumed, commands work again without restarting a manager.
 *
 * Every wait is by behaviour with generous bounds; etcd members are resumed in `after`
 * whatever happened, before the lab goes down.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Executor } from "../../../common/executor.js";
import { Lab } from "../../../deploy/lab/lab.js";
import { parseJoinToken, formatJoinToken } from "../../../common/pki/join-token.js";
import { GARBAGE_PROGRAM } from "../../support/garbage-connections.js";
import { eventually, LabCluster } from "../../support/lab-cluster.js";
import { isRoot } from "../../support/netns.js";

interface NodeRow {
  ID: string;
  Hostname: string;
  Status: string;
  Role: string;
}

const N1 = "100.64.1.1";

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(m, `no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

const MANAGER_CLIENT = fileURLToPath(new URL("../../../cli/manager-client.js", import.meta.url));
/** One Services.List as the node's CLI sends it, timed from the call to its answer. */
const TIMED_CALL = `
const { withManagers } = await import(process.argv[1]);
const t = Date.now();
try {
  await withManagers(undefined, (c) => c.call((cl, o, cb) => cl.services.List({}, o, cb)));
  console.log(JSON.stringify({ ok: true, ms: Date.now() - t, message: "" }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, ms: Date.now() - t, message: String(err.message) }));
}
`;

describe("reliability: node removal, leave and join, garbage connections, quorum loss (netns lab, 4 nodes, 3 managers)", function () {
  this.timeout(600_000);
  const lab = new LabCluster(4, undefined, 3);
  const paused = new Set<string>();
  const signal = async (node: string, sig: "SIGSTOP" | "SIGCONT") => {
    assert.ok(
      await new Lab(new Executor()).signal(lab.name, node, "etcd", sig),
      `etcd on ${node} not running`,
    );
    if (sig === "SIGSTOP") paused.add(node);
    else paused.delete(node);
  };
  const nodes = async () => JSON.parse(await lab.ok(["node", "ls", "--format", "json"])) as NodeRow[];
  /** A refused command: exit 1, one line on stderr, nothing on stdout. */
  const refused = async (args: string[], node: string, message: RegExp): Promise<string> => {
    const r = await lab.cli(args, node);
    assert.equal(r.exitCode, 1, `exit code of ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /Resolution note|ERR_SOCKET|circuit breaker|ECONNREFUSED/);
    return r.stderr;
  };

  before(async function () {
    if (!isRoot) this.skip();
    await lab.up();
    await eventually("4 nodes ready", async () =>
      (await nodes()).filter((n) => n.Status === "Ready").length === 4 ? true : undefined,
    );
  });

  after(async () => {
    if (!isRoot) return;
    for (const node of [...paused]) await signal(node, "SIGCONT");
    await lab.down();
  });

  it('network create -o foo (no =value): accepted as foo="", as Docker\'s -o does', async () => {
    await lab.ok(["network", "create", "-d", "overlay", "-o", "foo", "optnet"]);
    const [net] = JSON.parse(await lab.ok(["network", "inspect", "optnet"])) as {
      Options: Record<string, string>;
    }[];
    assert.equal(net?.Options["foo"], "");
    await lab.ok(["network", "rm", "optnet"]);
  });

  it("run --ip without --network: Docker's refusal, nothing started", async () => {
    await refused(
      ["run", "-d", "--name", "ipless", "--ip", "10.50.0.9", "--", "sleep", "60"],
      "n2",
      /user specified IP address is supported on user defined networks only/,
    );
    assert.doesNotMatch(await lab.ok(["ps", "-a"], "n2"), /ipless/);
  });

  it("swarm join …:99999: one line naming the bad port", async () => {
    const token = (await lab.ok(["swarm", "join-token", "-q", "worker"])).trim();
    await refused(
      ["swarm", "join", "--token", token, `${N1}:99999`],
      "n4",
      /invalid manager address "100\.64\.1\.1:99999": port "99999" is not a number from 1 to 65535/,
    );
  });

  it("node rm of the node the command runs on, with or without --force, and of another manager: refused", async () => {
    const before = await nodes();
    for (const force of [[], ["--force"]]) {
      await refused(["node", "rm", ...force, "n1"], "n1", /node n1 is the node this command runs on/);
      await refused(
        ["node", "rm", ...force, "n2"],
        "n1",
        /node n2 is a cluster manager\. It must be demoted to worker before removal/,
      );
    }
    assert.deepEqual(await nodes(), before);
  });

  it("a worker removed by a manager leaves with --force and joins again; a wrong secret is 'not valid for this cluster'", async () => {
    const old = (await nodes()).find((n) => n.Hostname === "n4");
    assert.ok(old);
    await lab.ok(["node", "rm", "--force", "n4"]);
    const left = await lab.cli(["swarm", "leave", "--force"], "n4");
    assert.equal(left.exitCode, 0, `leave --force: ${left.stderr}`);
    assert.match(left.stdout, /Node left the swarm/);
    const token = (await lab.ok(["swarm", "join-token", "-q", "worker"])).trim();
    const { digest, secret } = parseJoinToken(token);
    const wrongSecret = `${secret.slice(0, -1)}${secret.endsWith("a") ? "b" : "a"}`;
    const stderr = await refused(
      ["swarm", "join", "--token", formatJoinToken(digest, wrongSecret), N1],
      "n4",
      /this join token is not valid for this cluster/,
    );
    assert.ok(!stderr.includes(wrongSecret) && !stderr.includes(secret), "a secret was echoed");
    assert.doesNotMatch(stderr, /expected SWMTKN|format/);
    await lab.ok(["swarm", "join", "--token", token, N1], "n4");
    await eventually("n4 ready again, under a new id", async () => {
      const n4 = (await nodes()).filter((n) => n.Hostname === "n4");
      return n4.length === 1 && n4[0]?.Status === "Ready" && n4[0].ID !== old.ID ? true : undefined;
    });
  });

  it("10,000 garbage connections to a manager's port: its RSS grows by less than 20 MB", async () => {
    const pid = lab.pid("n1", "manager");
    const garbage = async (count: number) => {
      const r = await lab.exec("client", [
        process.execPath,
        "-e",
        GARBAGE_PROGRAM,
        N1,
        "2377",
        String(count),
        "100",
        "200",
      ]);
      assert.equal(r.exitCode, 0, `garbage program: ${r.stderr}`);
      return JSON.parse(r.stdout) as { made: number; tlsOk: number; serverClosed: number };
    };
    // First use of the refusal paths (TLS and HTTP/2 errors: code compiled, pools made)
    // costs once; a warm-up pays it before the reading that counts.
    const fdsBefore = openFds(pid);
    await garbage(1_000);
    await eventually("the manager closed the warm-up connections", async () =>
      openFds(pid) <= fdsBefore + 20 ? true : undefined,
    );
    const before = rssBytes(pid);
    const sent = await garbage(10_000);
    assert.ok(sent.made >= 9_000, `connections made: ${JSON.stringify(sent)}`);
    await eventually("the manager closed the garbage connections", async () =>
      openFds(pid) <= fdsBefore + 20 ? true : undefined,
    );
    const peak = rssBytes(pid);
    // Garbage collected is given back when V8's memory reducer runs (seconds after the
    // burst); a per-connection leak never comes back. So: RSS must come back under the
    // bound, however long the collector takes.
    const MB = 2 ** 20;
    let after = peak;
    try {
      await eventually(
        "the manager's RSS back within 20 MB of before",
        async () => {
          after = rssBytes(pid);
          return after - before < 20 * MB ? true : undefined;
        },
        { timeoutMs: 120_000 },
      );
    } finally {
      console.log(
        `      manager RSS ${(before / MB).toFixed(1)} MB before, ${(peak / MB).toFixed(1)} right after, ${(after / MB).toFixed(1)} settled (+${((after - before) / MB).toFixed(1)}); ${JSON.stringify(sent)}`,
      );
    }
    // Still serving.
    await lab.ok(["service", "ls"]);
  });

  it("2 of 3 etcd members paused: the first command fails fast with the quorum message; one resumed, commands work again", async () => {
    const timed = async () => {
      const t = Date.now();
      const r = await lab.cli(["service", "ls"]);
      return { r, ms: Date.now() - t };
    };
    /** `service ls`'s call as n1's CLI makes it, timed inside the process (no start-up). */
    const call = async () => {
      const r = await lab.exec("n1", [
        process.execPath,
        "--input-type=module",
        "-e",
        TIMED_CALL,
        MANAGER_CLIENT,
      ]);
      assert.equal(r.exitCode, 0, `timed call: ${r.stderr}`);
      return JSON.parse(r.stdout) as { ok: boolean; ms: number; message: string };
    };
    assert.equal((await call()).ok, true, "service list with quorum");
    await signal("n2", "SIGSTOP");
    await signal("n3", "SIGSTOP");
    const firstCall = await call();
    console.log(
      `      first control call without quorum failed after ${firstCall.ms} ms: ${firstCall.message}`,
    );
    assert.equal(firstCall.ok, false);
    assert.match(firstCall.message, /^the cluster store has lost quorum \(1 of 3 members reachable\)/);
    assert.ok(firstCall.ms <= 3_000, `failed after ${firstCall.ms} ms`);
    // The same through the CLI: one line, the message as it was.
    const first = await timed();
    console.log(`      the CLI's service ls without quorum: ${first.ms} ms, process start included`);
    assert.equal(first.r.exitCode, 1, `service ls without quorum: ${first.r.stdout}`);
    assert.match(
      first.r.stderr,
      /^swarmnet: the cluster store has lost quorum \(1 of 3 members reachable\): restore a member or see README\.md#when-the-cluster-store-loses-quorum$/m,
    );
    assert.equal(first.r.stderr.trim().split("\n").length, 1);
    const second = await timed();
    assert.equal(second.r.exitCode, 1);
    assert.match(second.r.stderr, /lost quorum/);
    await signal("n2", "SIGCONT");
    const restored = Date.now();
    await eventually("commands work again with 2 of 3 members", async () =>
      (await lab.cli(["service", "ls"])).exitCode === 0 ? true : undefined,
    );
    console.log(`      commands worked again ${Date.now() - restored} ms after a member was resumed`);
    await lab.ok(["network", "create", "-d", "overlay", "afterquorum"]);
    await signal("n3", "SIGCONT");
  });
});

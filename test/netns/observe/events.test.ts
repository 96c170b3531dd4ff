/**
 * Issue 15, `swarmnet events`: in a 3-node lab a scripted sequence — network create,
 * service create, scale, a key rotation, an agent killed — appears in order in
 * `events --since T --until NOW --format json`, and live in a stream opened before;
 * filters narrow it; bad arguments are refused in one line; a worker is refused (events
 * need a manager certificate); no token secret and nothing shaped like key bytes appears
 * in any event.
 */
import assert from "node:assert/strict";
import { execa } from "execa";
import { CLI_MAIN } from "../../support/netns.js";
import { eventually, LabCluster, labForSuite } from "../../support/lab-cluster.js";
import { BRIEF_MONITOR, swarmnet } from "../../support/cli.js";
import { assertNoSecrets, tokenSecrets } from "../../support/no-secrets.js";

interface EventJson {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: string;
}

type Want = [type: string, action: string, attrs: Record<string, string>];

/** Index of each wanted event in `events`, each after the previous; fails naming the first missing. */
function inOrder(events: readonly EventJson[], wanted: readonly Want[]): void {
  let from = 0;
  for (const [type, action, attrs] of wanted) {
    const i = events.findIndex(
      (e, j) =>
        j >= from &&
        e.Type === type &&
        e.Action === action &&
        Object.entries(attrs).every(([k, v]) => e.Actor.Attributes[k] === v),
    );
    assert.ok(
      i >= 0,
      `no ${type} ${action} ${JSON.stringify(attrs)} after event ${from}; got ${events.map((e) => `${e.Type}:${e.Action}:${e.Actor.Attributes["name"] ?? e.Actor.Attributes["service"] ?? ""}`).join(" ")}`,
    );
    from = i + 1;
  }
}

const parse = (out: string) =>
  out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as EventJson);

describe("observe: swarmnet events (netns lab, 3 nodes)", function () {
  this.timeout(300_000);
  const lab = labForSuite(new LabCluster(3));

  it("shows a scripted sequence in order, from history and live", async () => {
    const t0 = (Date.now() / 1000).toFixed(3);
    // A live stream of node and service events, opened before anything happens.
    const live = execa(
      process.execPath,
      [
        CLI_MAIN,
        "lab",
        "exec",
        "--name",
        lab.name,
        "n1",
        "--",
        "swarmnet",
        "events",
        "--format",
        "json",
        "--filter",
        "type=node",
        "--filter",
        "type=service",
      ],
      { detached: true, reject: false, env: { SWARMNET_LOG_LEVEL: "warn" } },
    );
    let liveOut = "";
    live.stdout?.on("data", (d: Buffer) => (liveOut += d.toString()));
    try {
      await lab.ok(["network", "create", "-d", "overlay", "evnet"]);
      await lab.ok([
        "service",
        "create",
        ...BRIEF_MONITOR,
        "-d",
        "--name",
        "web",
        "--replicas",
        "2",
        "--network",
        "evnet",
        "--",
        "swarmnet",
        "whoami",
        "--port",
        "80",
      ]);
      await lab.waitRunning("web", 2);
      await lab.ok(["service", "scale", "web=3"]);
      await lab.waitRunning("web", 3);
      await lab.ok(["swarm", "rotate-keys"]);
      const r = await swarmnet(["lab", "restart", "--name", lab.name, "--kill", "--stop-only", "n3"]);
      assert.equal(r.exitCode, 0, r.stderr);
      await eventually("n3 down in node ls", async () => {
        const nodes = JSON.parse(await lab.ok(["node", "ls", "--format", "json"])) as {
          Hostname: string;
          Status: string;
        }[];
        return nodes.find((n) => n.Hostname === "n3")?.Status.toLowerCase() === "down" ? true : undefined;
      });

      const history = parse(
        await lab.ok([
          "events",
          "--since",
          t0,
          "--until",
          (Date.now() / 1000 + 0.5).toFixed(3),
          "--format",
          "json",
        ]),
      );
      inOrder(history, [
        ["network", "create", { name: "evnet", driver: "overlay" }],
        ["service", "create", { name: "web", replicas: "2" }],
        ["task", "running", { service: "web" }],
        ["service", "update", { name: "web", "replicas.old": "2", "replicas.new": "3" }],
        ["task", "running", { service: "web" }],
        ["key", "rotate", { kind: "data" }],
        ["node", "down", { name: "n3" }],
      ]);
      for (const e of history) {
        assert.ok(Number(e.timeNano) >= Number(t0) * 1e9 - 1e9, "an event before --since");
        assert.equal(e.time, Math.floor(Number(e.timeNano) / 1e9));
      }
      const times = history.map((e) => Number(e.timeNano));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        "events out of time order",
      );

      await eventually("the live stream saw the node go down", async () =>
        parse(liveOut).some((e) => e.Type === "node" && e.Action === "down") ? true : undefined,
      );
      const seen = parse(liveOut);
      assert.ok(
        seen.every((e) => e.Type === "node" || e.Type === "service"),
        "the filter let other types through",
      );
      inOrder(seen, [
        ["service", "create", { name: "web" }],
        ["service", "update", { "replicas.new": "3" }],
        ["node", "down", { name: "n3" }],
      ]);

      // Only the task events, by filter, and the default line format.
      const tasks = parse(
        await lab.ok([
          "events",
          "--since",
          t0,
          "--until",
          "0s",
          "--format",
          "json",
          "-f",
          "type=task",
          "-f",
          "event=running",
        ]),
      );
      assert.ok(tasks.length >= 3 && tasks.every((e) => e.Type === "task" && e.Action === "running"));
      const lines = (await lab.ok(["events", "--since", t0, "--until", "0s", "-f", "type=network"]))
        .trim()
        .split("\n");
      assert.match(
        lines[0] ?? "",
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z network create \S+ \(driver=overlay, name=evnet\)$/,
      );

      // No secret in any event: the join tokens' secret parts, or anything like key bytes.
      assertNoSecrets(JSON.stringify(history), await tokenSecrets(lab), "the events");
    } finally {
      if (live.pid !== undefined) process.kill(-live.pid, "SIGTERM");
      await live;
    }
  });

  it("refuses bad filters, formats and times in one line", async () => {
    for (const [args, msg] of [
      [["--filter", "type=bogus"], /^swarmnet: invalid filter 'type=bogus'/],
      [["--filter", "colour=red"], /^swarmnet: invalid filter 'colour=red'/],
      [["--format", "{{.Type}}"], /^swarmnet: --format must be json/],
      [["--since", "yesterday"], /^swarmnet: invalid time "yesterday"/],
    ] as const) {
      const r = await lab.cli(["events", ...args, "--until", "0s"]);
      assert.equal(r.exitCode, 1, `events ${args.join(" ")} exited ${r.exitCode}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  });

  it("events are a manager's: a worker is refused with Docker's message", async () => {
    const r = await lab.cli(["events", "--since", "1h", "--until", "0s"], "n2");
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /^swarmnet: .*This node is not a swarm manager\./);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.equal(r.stdout, "");
  });
});

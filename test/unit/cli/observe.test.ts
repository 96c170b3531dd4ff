/** The pure parts of `swarmnet events` and the service progress: times, filters, bars, lines. */
import assert from "node:assert/strict";
import { eventLine, parseEventTime, parseFilters } from "../../../cli/events.js";
import type { ManagerClient } from "../../../cli/manager-client.js";
import { bar, frame, waitConverged } from "../../../cli/service-progress.js";
import type { ManagerCall, ManagerClients } from "../../../common/manager-pool.js";
import type { Service__Output } from "../../../proto/generated/swarmnet/v1/Service.js";
import type { Task__Output } from "../../../proto/generated/swarmnet/v1/Task.js";

describe("cli: events arguments and output", () => {
  const now = Date.parse("2026-01-02T15:04:05Z");
  it("reads Docker's time forms", () => {
    assert.equal(parseEventTime("1767366245", now), 1767366245000);
    assert.equal(parseEventTime("1767366245.5", now), 1767366245500);
    assert.equal(parseEventTime("10m", now), now - 600_000);
    assert.equal(parseEventTime("1h30m", now), now - 5_400_000);
    assert.equal(parseEventTime("0s", now), now);
    assert.equal(parseEventTime("2026-01-02T15:00:00Z", now), Date.parse("2026-01-02T15:00:00Z"));
    assert.throws(() => parseEventTime("yesterday", now), /invalid time "yesterday"/);
  });
  it("reads filters; refuses unknown keys and empty values", () => {
    assert.deepEqual(parseFilters(["type=node", "type=task", "event=down"]), {
      types: ["node", "task"],
      actions: ["down"],
    });
    assert.throws(() => parseFilters(["colour=red"]), /invalid filter 'colour=red'/);
    assert.throws(() => parseFilters(["type="]), /invalid filter 'type='/);
  });
  it("prints Docker's line", () => {
    assert.equal(
      eventLine({
        type: "network",
        action: "create",
        actorId: "abc",
        attributes: { name: "n", driver: "overlay" },
        timeMs: String(now),
      }),
      "2026-01-02T15:04:05.000000000Z network create abc (driver=overlay, name=n)",
    );
  });
});

describe("cli: service progress frame", () => {
  it("fills the bar by state, as Docker's 9 steps", () => {
    assert.equal(bar("running", 10), "[=========>]");
    assert.equal(bar("new", 9), "[>        ]");
    assert.equal(bar("failed", 4), "[    ]");
  });
  it("draws the overall count and one line per slot, with the error of a slot not running", () => {
    assert.deepEqual(
      frame(
        [
          { label: "1/2", state: "running", message: "" },
          { label: "2/2", state: "failed", message: "exit code 1" },
        ],
        1,
        2,
        4,
      ),
      ["overall progress: 1 out of 2 tasks", "1/2: running [===>]", "2/2: failed  [    ] exit code 1"],
    );
  });
});

/**
 * A manager that answers `service inspect` with one 1-replica service (its update monitor
 * `updateMonitorMs`, 0 = unset) and `ps` from a script, one poll each.
 */
function scripted(
  polls: readonly (readonly [id: string, state: string, slot?: number])[][],
  updateMonitorMs = 0,
): ManagerClient {
  let i = 0;
  const service = {
    id: "s1",
    name: "web",
    mode: "replicated",
    replicas: 1,
    desiredTasks: 1,
    updateMonitorMs: String(updateMonitorMs),
  };
  const task = ([id, state, slot = 1]: readonly [string, string, number?]) =>
    ({
      id,
      serviceId: "s1",
      name: `web.${slot}.${id}`,
      slot,
      desiredState: state === "failed" ? "shutdown" : "running",
      state,
      message: state === "failed" ? "exit code 1" : "",
      exitCode: state === "failed" ? 1 : 0,
      stateAt: new Date().toISOString(),
    }) as Task__Output;
  const services = {
    Inspect: (_r: unknown, _o: unknown, cb: (e: null, v: unknown) => void) =>
      cb(null, service as Service__Output),
    ListTasks: (_r: unknown, _o: unknown, cb: (e: null, v: unknown) => void) =>
      cb(null, { tasks: (polls[Math.min(i++, polls.length - 1)] ?? []).map(task) }),
  };
  const clients = { services } as unknown as ManagerClients;
  return {
    call: <T>(fn: ManagerCall<T>) =>
      new Promise<T>((resolve, reject) => fn(clients, {}, (err, v) => (err ? reject(err) : resolve(v as T)))),
  } as unknown as ManagerClient;
}

describe("cli: waiting for a service to converge", () => {
  const fast = { pollMs: 1, monitorMs: 30, tty: false };
  it("converges once the same task stayed running through the verify wait", async () => {
    let out = "";
    await waitConverged(scripted([[["a", "assigned"]], [["a", "running"]]]), "web", {
      ...fast,
      write: (t) => (out += t),
    });
    assert.match(
      out,
      /^1\/1: running .*\nverify: Waiting 0 seconds to verify that tasks are stable\.\.\.\nverify: Service converged\n$/m,
    );
  });
  it("tasks a scale-down stops are no failures, whatever their exit status", async () => {
    let out = "";
    const stopped = (id: string, slot: number) => [id, "failed", slot] as const;
    await waitConverged(
      scripted([[["a", "running"], stopped("b", 2), stopped("c", 3), stopped("d", 4), stopped("e", 5)]]),
      "web",
      { ...fast, write: (t) => (out += t) },
    );
    assert.match(out, /verify: Service converged/);
  });
  it("a task seen running that then fails is no convergence: three failures end the wait with the error", async () => {
    let out = "";
    const polls: (readonly [string, string])[][] = [
      [["a", "running"]],
      [
        ["a", "failed"],
        ["b", "running"],
      ],
      [
        ["a", "failed"],
        ["b", "failed"],
        ["c", "running"],
      ],
      [
        ["a", "failed"],
        ["b", "failed"],
        ["c", "failed"],
      ],
    ];
    await assert.rejects(
      waitConverged(scripted(polls), "web", { ...fast, monitorMs: 60_000, write: (t) => (out += t) }),
      /service web did not converge: 3 tasks failed, the last web\.1\.[abc]: exit code 1/,
    );
    assert.doesNotMatch(out, /Service converged/);
  });
  // The task runs, then fails three times: the wait ends right after the verify line.
  const runsThenFails: (readonly [string, string])[][] = [
    [["a", "running"]],
    [
      ["a", "failed"],
      ["b", "failed"],
      ["c", "failed"],
    ],
  ];
  it("the verify wait is the service's own --update-monitor, and the line says so", async () => {
    let out = "";
    await assert.rejects(
      waitConverged(scripted(runsThenFails, 2_000), "web", { ...fast, write: (t) => (out += t) }),
      /3 tasks failed/,
    );
    assert.match(out, /^verify: Waiting 2 seconds to verify that tasks are stable\.\.\.$/m);
    let quick = "";
    await waitConverged(scripted([[["a", "running"]]], 40), "web", {
      ...fast,
      monitorMs: 60_000,
      write: (t) => (quick += t),
    });
    assert.match(quick, /verify: Service converged/, "the service's 40 ms monitor was not used");
  });
  it("a service whose monitor is 0 waits Docker's default 5 s, as docker/cli does", async () => {
    let out = "";
    await assert.rejects(
      waitConverged(scripted(runsThenFails, 0), "web", { pollMs: 1, tty: false, write: (t) => (out += t) }),
      /3 tasks failed/,
    );
    assert.match(out, /^verify: Waiting 5 seconds to verify that tasks are stable\.\.\.$/m);
  });
});

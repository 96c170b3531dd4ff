/**
 * Chaos scenarios, bad input: every mistake is one line naming the field, raised while
 * parsing or planning, before anything runs (issue 13's acceptance: an unknown step, a
 * target that does not exist, a malformed duration, a partition naming a node twice).
 */
import assert from "node:assert/strict";
import { BUILTIN_NAMES, builtinScenarios } from "../../../deploy/lab/chaos/builtins.js";
import { planScenario, staticView } from "../../../deploy/lab/chaos/plan.js";
import { parseDuration, parseScenario, scenarioFrom } from "../../../deploy/lab/chaos/scenario.js";
import { labLayout } from "../../../deploy/lab/layout.js";

const fiveNodes = () => staticView(labLayout("t", 5, 3).nodes);
const file = (steps: unknown[], extra: object = {}) => JSON.stringify({ name: "s", steps, ...extra });

/** Parses and plans like `lab chaos` does; returns the one-line error. */
function refusal(text: string): string {
  try {
    const sc = parseScenario(text, "bad.json");
    planScenario(sc, sc.seed, fiveNodes());
  } catch (err) {
    const msg = (err as Error).message;
    assert.ok(!msg.includes("\n"), `one line: ${msg}`);
    return msg;
  }
  return assert.fail("accepted");
}

describe("chaos scenarios: validation", () => {
  it("an unknown step names the step, its index and the kinds there are", () => {
    assert.match(
      refusal(
        file([
          { step: "wait", duration: "1s" },
          { step: "explode", target: "n1" },
        ]),
      ),
      /steps\[1\]\.step: unknown step "explode" \(one of kill, stop, cont, restart, partition/,
    );
  });

  it("a target that does not exist names it and the lab's nodes", () => {
    assert.match(
      refusal(file([{ step: "kill", target: "n9" }])),
      /steps\[0\]\.target: no node "n9" in the lab \(nodes: n1, n2, n3, n4, n5\)/,
    );
    assert.match(
      refusal(file([{ step: "kill", target: "random 4 manager" }])),
      /random 4 manager: only 3 node\(s\) match/,
    );
    assert.match(refusal(file([{ step: "kill", target: "$nobody" }])), /\$nobody is not bound/);
    assert.match(refusal(file([{ step: "kill", target: "the boss" }])), /"the boss" is not a target/);
  });

  it("a malformed duration says what a duration looks like", () => {
    for (const d of ["5 sec", "5", "-1s", "1h", ""]) {
      assert.match(
        refusal(file([{ step: "wait", duration: d }])),
        /steps\[0\]\.duration: .* is not a duration \(use 500ms, 5s or 2m\)/,
      );
    }
    assert.match(
      refusal(file([{ step: "wait", duration: "1s" }], { settle: "soon" })),
      /\.settle: "soon" is not a duration/,
    );
    assert.equal(parseDuration("1.5s", "x"), 1500);
    assert.equal(parseDuration("2m", "x"), 120_000);
    assert.equal(parseDuration("250ms", "x"), 250);
  });

  it("a partition naming one node twice is refused, also across groups and through $bindings", () => {
    assert.match(
      refusal(file([{ step: "partition", groups: [["n2", "n2"], ["rest"]] }])),
      /groups: n2 appears twice/,
    );
    assert.match(
      refusal(file([{ step: "partition", groups: [["n2"], ["n3", "n2"]] }])),
      /groups: n2 appears twice/,
    );
    assert.match(
      refusal(
        file([
          { step: "stop", target: "n4", as: "v" },
          { step: "partition", groups: [["$v"], ["n4"]] },
        ]),
      ),
      /groups: n4 appears twice/,
    );
  });

  it("other mistakes: unknown field, bad process, loss out of range, not JSON, no steps", () => {
    assert.match(
      refusal(file([{ step: "kill", target: "n1", signal: 9 }])),
      /steps\[0\]\.signal: unknown field/,
    );
    assert.match(
      refusal(file([{ step: "kill", process: "kubelet", target: "n1" }])),
      /process: must be agent, manager or etcd/,
    );
    assert.match(
      refusal(file([{ step: "loss", percent: 150, target: "n1" }])),
      /percent: must be a whole number from 1 to 100/,
    );
    assert.match(refusal("{ nope"), /bad\.json: not valid JSON/);
    assert.match(refusal(file([])), /steps: must be a non-empty list/);
  });

  it("every built-in scenario parses and plans on the issue's lab (5 nodes, 3 managers)", () => {
    assert.deepEqual(BUILTIN_NAMES, [
      "node-crash",
      "agent-crash",
      "manager-failover",
      "etcd-quorum-loss",
      "partition-minority",
      "flapping-link",
      "join-storm",
      "rolling-agent-restart",
      "lossy-underlay",
    ]);
    for (const sc of builtinScenarios()) {
      const plan = planScenario(sc, sc.seed, fiveNodes());
      assert.equal(plan.length, sc.steps.length, sc.name);
      assert.ok(
        plan.some((p) => p.nodes.length > 0 || p.step.step === "heal"),
        `${sc.name} acts on something`,
      );
    }
  });

  it("a scenario given as an object is validated the same way", () => {
    assert.throws(
      () => scenarioFrom({ name: "Bad Name", steps: [{ step: "heal" }] }, "x"),
      /name: "Bad Name"/,
    );
  });
});

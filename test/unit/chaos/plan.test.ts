/**
 * Reproducibility without a lab: the same scenario and seed give the same sequence of
 * faults on the same targets (issue 13's acceptance), shown by planning only; another
 * seed draws differently; live state (`with-task`, the leader) narrows the choice without
 * shifting later draws.
 */
import assert from "node:assert/strict";
import { builtinScenarios } from "../../../deploy/lab/chaos/builtins.js";
import { formatPlan, Planner, planScenario, staticView } from "../../../deploy/lab/chaos/plan.js";
import { SeededRandom } from "../../../deploy/lab/chaos/random.js";
import { scenarioFrom } from "../../../deploy/lab/chaos/scenario.js";
import { labLayout } from "../../../deploy/lab/layout.js";

const view = () => staticView(labLayout("t", 5, 3).nodes);

const randomHeavy = scenarioFrom(
  {
    name: "dice",
    steps: [
      { step: "kill", target: "random node", as: "a" },
      { step: "stop", process: "etcd", target: "random 2 manager" },
      { step: "partition", groups: [["random worker"], ["rest"]] },
      { step: "loss", percent: 10, target: "random 3 node" },
      { step: "restart", target: "$a" },
      { step: "join", count: 2, as: "fresh" },
      { step: "link-down", target: "$fresh" },
      { step: "heal" },
    ],
  },
  "dice",
);

describe("chaos plans: reproducible from the seed", () => {
  it("same scenario + seed → the same faults on the same targets, every time", () => {
    for (const sc of [...builtinScenarios(), randomHeavy]) {
      const a = formatPlan(planScenario(sc, 7, view()));
      const b = formatPlan(planScenario(sc, 7, view()));
      assert.deepEqual(a, b, sc.name);
    }
    assert.deepEqual(formatPlan(planScenario(randomHeavy, 7, view())), [
      ...formatPlan(planScenario(randomHeavy, 7, view())),
    ]);
  });

  it("different seeds draw different targets", () => {
    const plans = new Set(
      Array.from({ length: 10 }, (_, seed) => formatPlan(planScenario(randomHeavy, seed, view())).join("\n")),
    );
    assert.ok(plans.size > 5, `10 seeds gave only ${plans.size} distinct plans`);
  });

  it("resolves roles, bindings, joins and `rest` as written", () => {
    const plan = planScenario(randomHeavy, 3, view());
    const [kill, stop, part, loss, restart, join, down] = plan;
    assert.equal(kill?.nodes.length, 1);
    assert.deepEqual(restart?.nodes, kill?.nodes, "$a is the node killed");
    assert.equal(stop?.nodes.length, 2);
    assert.ok(
      stop?.nodes.every((n) => ["n1", "n2", "n3"].includes(n)),
      "managers only",
    );
    assert.equal(part?.groups?.[0]?.length, 1);
    assert.ok(["n4", "n5"].includes(part?.groups?.[0]?.[0] ?? ""), "a worker");
    assert.deepEqual([...(part?.groups?.[0] ?? []), ...(part?.groups?.[1] ?? [])].sort(), [
      "n1",
      "n2",
      "n3",
      "n4",
      "n5",
    ]);
    assert.equal(new Set(loss?.nodes).size, 3);
    assert.deepEqual(join?.nodes, ["n6", "n7"]);
    assert.deepEqual(down?.nodes, ["n6", "n7"]);
  });

  it("live state narrows a choice but never shifts the draws of later steps", () => {
    const sc = scenarioFrom(
      {
        name: "live",
        steps: [
          { step: "kill", target: "random node-with-task web" },
          { step: "kill", target: "random node" },
          { step: "kill", target: "leader" },
        ],
      },
      "live",
    );
    const run = (tasks: string[], leader: string) => {
      const p = new Planner(sc, 11, view());
      const live = { ...view(), tasks: { web: tasks }, leader };
      return [0, 1, 2].map((i) => p.resolve(i, live).nodes);
    };
    const a = run(["n2", "n4", "n5"], "n3");
    const b = run(["n1"], "n2");
    assert.ok(["n2", "n4", "n5"].includes(a[0]?.[0] ?? ""));
    assert.deepEqual(b[0], ["n1"]);
    assert.deepEqual(a[1], b[1], "the second step's draw is the same");
    assert.deepEqual(a[2], ["n3"]);
    assert.deepEqual(b[2], ["n2"]);
  });

  it("the seeded source is mulberry32: fixed values for a fixed seed", () => {
    const r = new SeededRandom(1);
    const xs = [r.next(), r.next(), r.next()];
    const again = new SeededRandom(1);
    assert.deepEqual(xs, [again.next(), again.next(), again.next()]);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.deepEqual(new SeededRandom(5).pick(["a", "b", "c", "d"], 4).sort(), ["a", "b", "c", "d"]);
  });
});

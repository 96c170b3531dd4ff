/** The fast-path-vs-resync test's seeded plan: replayable, valid in order, every kind used. */
import assert from "node:assert/strict";
import { planBurst, type BurstOptions } from "../../support/burst-plan.js";

const OPTIONS: BurstOptions = {
  seed: 42,
  count: 1000,
  nodes: ["n1", "n2", "n3"],
  networks: ["a", "b"],
  prefix: "fp",
};

describe("burst plan (fast-path-vs-resync test)", () => {
  it("the same seed gives the same changes; another seed others", () => {
    assert.deepEqual(planBurst(OPTIONS), planBurst(OPTIONS));
    assert.notDeepEqual(planBurst(OPTIONS).changes, planBurst({ ...OPTIONS, seed: 43 }).changes);
  });

  it("every change is valid when issued in order, and the plan's end is what they leave", () => {
    const { changes, end } = planBurst(OPTIONS);
    assert.equal(changes.length, 1000);
    const services = new Map<string, { replicas: number; ports: string[] }>();
    const containers = new Map<string, string>();
    for (const c of changes) {
      switch (c.kind) {
        case "service-create":
          assert.equal(services.has(c.service), false);
          services.set(c.service, {
            replicas: c.replicas,
            ports: c.ports.map((p) => `${p.target}/${p.protocol}`),
          });
          break;
        case "service-scale":
          assert.ok(services.has(c.service));
          (services.get(c.service) ?? { replicas: 0 }).replicas = c.replicas;
          break;
        case "service-publish": {
          const ports = services.get(c.service)?.ports ?? assert.fail(`no ${c.service}`);
          assert.ok(!ports.some((p) => p.startsWith(`${c.port.target}/`)), "a target published once");
          ports.push(`${c.port.target}/${c.port.protocol}`);
          break;
        }
        case "service-unpublish": {
          const s = services.get(c.service) ?? assert.fail(`no ${c.service}`);
          const port = `${c.port.target}/${c.port.protocol}`;
          assert.ok(s.ports.includes(port));
          s.ports = s.ports.filter((p) => p !== port);
          break;
        }
        case "service-rm":
          assert.ok(services.delete(c.service));
          break;
        case "container-run":
          assert.equal(containers.has(c.container), false);
          containers.set(c.container, c.node);
          break;
        case "container-rm":
          assert.equal(containers.get(c.container), c.node);
          containers.delete(c.container);
          break;
      }
      assert.ok(services.size <= 5 && containers.size <= 6);
    }
    assert.deepEqual(new Map([...services].map(([n, s]) => [n, s.replicas])), end.services);
    assert.deepEqual(containers, end.containers);
    const kinds = new Set(changes.map((c) => c.kind));
    assert.equal(kinds.size, 7, `kinds used: ${[...kinds].join(", ")}`);
  });

  it("container churn is a modest share: mostly port changes, few runs, removals and task moves", () => {
    for (const seed of [1, 2, 3, 42]) {
      const { changes } = planBurst({ ...OPTIONS, seed });
      const share = (...kinds: string[]) =>
        changes.filter((c) => kinds.includes(c.kind)).length / changes.length;
      assert.ok(share("service-publish", "service-unpublish") > 0.8, `seed ${seed}`);
      assert.ok(share("container-run", "container-rm") < 0.08, `seed ${seed}`);
      assert.ok(share("service-scale", "service-create", "service-rm") < 0.12, `seed ${seed}`);
    }
  });
});

/** Which objects a pass looks at closely: all at first, then a bounded rotating slice per resync. */
import assert from "node:assert/strict";
import { DeepChecks } from "../../../agent/reconcile/deep-checks.js";

describe("deep checks", () => {
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);

  it("looks at everything on the first pass, at nothing on a fast pass", () => {
    const d = new DeepChecks(4);
    assert.equal(d.pick(keys, false).size, 10);
    assert.equal(d.pick(keys, false).size, 0);
  });

  it("resyncs take at most perPass keys each and cover every key within ceil(N / perPass) passes", () => {
    const d = new DeepChecks(4);
    d.pick(keys, true);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const picked = d.pick(keys, true);
      assert.equal(picked.size, 4);
      for (const k of picked) seen.add(k);
    }
    assert.deepEqual([...seen].sort(), [...keys].sort());
  });
});

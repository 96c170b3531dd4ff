import assert from "node:assert/strict";
import { assignSlots } from "../../../agent/ingress/slots.js";

describe("ingress slot assignment", () => {
  const cases: [string, string[] | undefined, string[], string[]][] = [
    [
      "first time: sorted numerically",
      undefined,
      ["10.0.0.10", "10.0.0.9", "10.0.0.2"],
      ["10.0.0.2", "10.0.0.9", "10.0.0.10"],
    ],
    ["nothing changed", ["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]],
    ["one added: appended", ["a", "b", "c"], ["a", "b", "c", "d"], ["a", "b", "c", "d"]],
    ["one removed: the last moves into its slot", ["a", "b", "c", "d"], ["a", "c", "d"], ["a", "d", "c"]],
    ["the last removed: nothing moves", ["a", "b", "c"], ["a", "b"], ["a", "b"]],
    ["one replaced: takes the same slot", ["a", "b", "c"], ["a", "x", "c"], ["a", "x", "c"]],
    ["all removed", ["a", "b"], [], []],
    ["duplicates count once", undefined, ["b", "a", "b"], ["a", "b"]],
    ["two removed, one added", ["a", "b", "c", "d", "e"], ["a", "c", "e", "z"], ["a", "z", "c", "e"]],
  ];
  for (const [name, previous, desired, expected] of cases) {
    it(name, () => {
      const slots = assignSlots(previous, desired);
      assert.deepEqual(slots, expected);
      assert.deepEqual([...slots].sort(), [...new Set(desired)].sort(), "every desired backend exactly once");
    });
  }

  it("a one-backend change moves at most one surviving backend, at any size", () => {
    const before = Array.from({ length: 200 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const prev = assignSlots(undefined, before);
    const after = assignSlots(
      prev,
      before.filter((b) => b !== "10.0.0.17"),
    );
    const moved = after.filter((b, i) => prev[i] !== b);
    assert.equal(moved.length, 1);
    assert.equal(after.length, 199);
  });
});

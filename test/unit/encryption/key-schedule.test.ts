import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import {
  describeKeyRing,
  initialKeyRing,
  isLosslessStep,
  keyRoles,
  rotateKeyRing,
  rotationStep,
  validateKeyRing,
  type DataKey,
  type KeyRing,
} from "../../../agent/encryption/key-schedule.js";

const key = (tag: number): DataKey => ({ tag, secret: Buffer.alloc(32, tag) });

describe("encryption key schedule", () => {
  it("moves every key through rx-only → primary → rx-only → removed, one rotation each", () => {
    let ring: KeyRing = initialKeyRing(key(1));
    const seen: string[] = [describeKeyRing(ring)];
    for (let tag = 2; tag <= 5; tag++) {
      ring = rotateKeyRing(ring, key(tag));
      seen.push(describeKeyRing(ring));
    }
    assert.deepEqual(seen, ["1*", "1* 2", "1 2* 3", "2 3* 4", "3 4* 5"]);
  });

  it("a rotation adds the new key rx-only, promotes a key every node already accepts, drops the oldest", () => {
    const before = validateKeyRing({ keys: [key(1), key(2), key(3)], primaryTag: 2 });
    const after = rotateKeyRing(before, key(4));
    assert.deepEqual(rotationStep(before, after), { added: [4], removed: [1], primaryFrom: 2, primaryTo: 3 });
    assert.equal(isLosslessStep(before, after), true);
    const roles = keyRoles(after);
    assert.equal(roles.primary.tag, 3);
    assert.deepEqual(
      roles.rxOnly.map((k) => k.tag),
      [2, 4],
    );
  });

  it("flags a jump to a primary that peers one ring behind cannot decrypt yet", () => {
    const before = validateKeyRing({ keys: [key(1), key(2), key(3)], primaryTag: 2 });
    const jumped = validateKeyRing({ keys: [key(4), key(5), key(6)], primaryTag: 5 });
    assert.equal(isLosslessStep(before, jumped), false);
    assert.equal(isLosslessStep(undefined, jumped), true);
  });

  it("sorts keys oldest first", () => {
    const r = validateKeyRing({ keys: [key(9), key(7), key(8)], primaryTag: 8 });
    assert.deepEqual(
      r.keys.map((k) => k.tag),
      [7, 8, 9],
    );
  });

  const bad: [string, KeyRing, RegExp][] = [
    ["no keys", { keys: [], primaryTag: 1 }, /no keys/],
    ["four keys", { keys: [key(1), key(2), key(3), key(4)], primaryTag: 2 }, /4 keys, at most 3/],
    ["tag 0", { keys: [key(0)], primaryTag: 0 }, /tag 0 is not an integer/],
    ["duplicate tag", { keys: [key(1), key(1)], primaryTag: 1 }, /tag 1 appears twice/],
    [
      "short secret",
      { keys: [{ tag: 1, secret: Buffer.alloc(16) }], primaryTag: 1 },
      /16 bytes, expected 32/,
    ],
    ["primary missing", { keys: [key(1), key(2)], primaryTag: 3 }, /primary tag 3 is not one of the keys/],
  ];
  for (const [what, ring, message] of bad) {
    it(`rejects ${what} with one clear error that shows no key bytes`, () => {
      assert.throws(
        () => validateKeyRing(ring),
        (err: unknown) => {
          assert.ok(isSwarmnetError(err, ErrorCode.InvalidArgument));
          assert.match(err.message, message);
          assert.doesNotMatch(err.message, /0101|secret/i);
          return true;
        },
      );
    });
  }

  it("refuses a rotation to a key that is not newer", () => {
    const ring = validateKeyRing({ keys: [key(1), key(2)], primaryTag: 1 });
    assert.throws(() => rotateKeyRing(ring, key(2)), /not newer than tag 2/);
  });

  it("describes rings by tags only", () => {
    const r = validateKeyRing({ keys: [key(4), key(5), key(6)], primaryTag: 5 });
    assert.equal(describeKeyRing(r), "4 5* 6");
    assert.equal(describeKeyRing(undefined), "no keys");
  });
});

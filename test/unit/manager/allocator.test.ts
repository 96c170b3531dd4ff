import assert from "node:assert/strict";
import {
  checkRequested,
  lowestFree,
  PUBLISHED_PORT_RANGE,
  VNI_RANGE,
} from "../../../manager/allocator/index.js";

describe("allocator", () => {
  it("gives VNIs from 4096 up, lowest free first", () => {
    assert.equal(lowestFree(VNI_RANGE, new Set()), 4096);
    assert.equal(lowestFree(VNI_RANGE, new Set([4096, 4097, 4099])), 4098);
  });

  it("gives published ports from 30000-32767 and fails when all are used", () => {
    assert.equal(lowestFree(PUBLISHED_PORT_RANGE, new Set([30000])), 30001);
    const all = new Set(Array.from({ length: 2768 }, (_, i) => 30000 + i));
    assert.throws(() => lowestFree(PUBLISHED_PORT_RANGE, all), /no free published port left in 30000-32767/);
  });

  it("checks requested values", () => {
    assert.throws(() => checkRequested(VNI_RANGE, 12, new Set()), /outside 4096-16777215/);
    assert.throws(() => checkRequested(VNI_RANGE, 5000, new Set([5000])), /already in use/);
    checkRequested(VNI_RANGE, 5000, new Set());
  });
});

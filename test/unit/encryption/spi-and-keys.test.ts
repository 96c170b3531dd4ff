import assert from "node:assert/strict";
import { hkdfSync } from "node:crypto";
import { deriveDirectionKey } from "../../../agent/encryption/key-derivation.js";
import { formatSpi, spiFor } from "../../../agent/encryption/spi.js";

describe("encryption SPI and per-direction keys", () => {
  it("derives the SPI from (source, destination, tag) alone: both ends compute the same", () => {
    // Golden: FNV-1a 32 over 100.64.1.1 ‖ 100.64.1.2 ‖ tag 2.
    assert.equal(formatSpi(spiFor("100.64.1.1", "100.64.1.2", 2)), "0x1c0e9946");
    assert.equal(spiFor("100.64.1.1", "100.64.1.2", 2), spiFor("100.64.1.1", "100.64.1.2", 2));
  });

  it("gives each direction and each key its own SPI", () => {
    const spis = new Set([
      spiFor("100.64.1.1", "100.64.1.2", 1),
      spiFor("100.64.1.2", "100.64.1.1", 1),
      spiFor("100.64.1.1", "100.64.1.2", 2),
      spiFor("100.64.1.1", "100.64.1.3", 1),
    ]);
    assert.equal(spis.size, 4);
  });

  it("never yields a reserved SPI (0..255, RFC 4303)", () => {
    for (let tag = 1; tag < 20_000; tag++) assert.ok(spiFor("10.0.0.1", "10.0.0.2", tag) >= 256);
  });

  it("derives the same direction key on both ends, and different keys per direction, tag and purpose", () => {
    const secret = Buffer.alloc(32, 7);
    const ab = deriveDirectionKey(secret, "udp", "100.64.1.1", "100.64.1.2", 5);
    assert.deepEqual(deriveDirectionKey(Buffer.alloc(32, 7), "udp", "100.64.1.1", "100.64.1.2", 5), ab);
    assert.equal(ab.length, 32);
    assert.notDeepEqual(deriveDirectionKey(secret, "udp", "100.64.1.2", "100.64.1.1", 5), ab);
    assert.notDeepEqual(deriveDirectionKey(secret, "udp", "100.64.1.1", "100.64.1.2", 6), ab);
    const esp = deriveDirectionKey(secret, "esp", "100.64.1.1", "100.64.1.2", 5);
    assert.equal(esp.length, 36);
    assert.notDeepEqual(esp.subarray(0, 32), ab);
  });

  it("is HKDF-SHA256 with the documented salt and info", () => {
    const secret = Buffer.alloc(32, 1);
    const info = Buffer.from([...Buffer.from("udp"), 0, 100, 64, 1, 1, 100, 64, 1, 2, 0, 0, 0, 9]);
    const expected = Buffer.from(hkdfSync("sha256", secret, Buffer.from("swarmnet data-plane v1"), info, 32));
    assert.deepEqual(deriveDirectionKey(secret, "udp", "100.64.1.1", "100.64.1.2", 9), expected);
  });
});

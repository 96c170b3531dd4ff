import assert from "node:assert/strict";
import { Keyring } from "../../../agent/gossip/keyring.js";
import { isSwarmnetError } from "../../../common/errors.js";

const K1 = new Uint8Array(32).fill(1);
const K2 = new Uint8Array(32).fill(2);
const AAD = Buffer.from("label");

describe("gossip keyring", () => {
  it("encrypts with the primary and decrypts with any installed key", () => {
    const old = new Keyring([K1]);
    const rotating = new Keyring([K1]);
    rotating.install(K2);
    const sealedOld = old.seal(Buffer.from("hello"), AAD);
    assert.equal(
      Buffer.from(rotating.open(sealedOld.nonce, sealedOld.ciphertext, AAD) ?? []).toString(),
      "hello",
    );
    rotating.use(K2);
    const sealedNew = rotating.seal(Buffer.from("world"), AAD);
    assert.equal(
      old.open(sealedNew.nonce, sealedNew.ciphertext, AAD),
      undefined,
      "old members cannot read the new key yet",
    );
    old.install(K2);
    assert.equal(Buffer.from(old.open(sealedNew.nonce, sealedNew.ciphertext, AAD) ?? []).toString(), "world");
  });

  it("authenticates the associated data (the cluster label)", () => {
    const k = new Keyring([K1]);
    const s = k.seal(Buffer.from("x"), Buffer.from("blue"));
    assert.equal(k.open(s.nonce, s.ciphertext, Buffer.from("red")), undefined);
  });

  it("uses a fresh nonce for every message", () => {
    const k = new Keyring([K1]);
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++)
      nonces.add(Buffer.from(k.seal(Buffer.from("x"), AAD).nonce).toString("hex"));
    assert.equal(nonces.size, 1000);
  });

  it("refuses to remove the primary, to use an unknown key, or a key of the wrong size", () => {
    const k = new Keyring([K1]);
    assert.throws(
      () => k.remove(K1),
      (e) => isSwarmnetError(e, "SWARMNET_IN_USE"),
    );
    assert.throws(
      () => k.use(K2),
      (e) => isSwarmnetError(e, "SWARMNET_NOT_FOUND"),
    );
    assert.throws(() => k.install(new Uint8Array(16)), /must be 32 bytes/);
    k.install(K2);
    k.install(K2);
    assert.equal(k.keys().length, 2, "install is idempotent");
    k.use(K2);
    k.remove(K1);
    assert.deepEqual(k.keys(), [K2]);
  });

  it("an empty keyring means plaintext", () => {
    assert.equal(new Keyring().enabled, false);
    assert.equal(Keyring.fromBase64([Buffer.from(K1).toString("base64")]).enabled, true);
  });
});

import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { chooseBackend } from "../../../agent/encryption/backend.js";
import { ENCRYPTION_DEFAULTS, loadEncryptionConfig } from "../../../agent/encryption/config.js";
import { RelayAddressPool } from "../../../agent/encryption/relay-addresses.js";
import { renderGuard } from "../../../agent/encryption/nft-guard.js";
import type { KernelCapabilities } from "../../../agent/probe.js";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { UserspaceEncryptionBackend } from "../../../agent/encryption/userspace-backend.js";

const caps = (esp: boolean): KernelCapabilities => ({
  kernelRelease: "test",
  features: [
    { name: "xfrm", available: true, detail: "xfrm state list" },
    {
      name: "esp_aes_gcm",
      available: esp,
      detail: esp ? "ESP transport state with rfc4106(gcm(aes))" : "Requested AEAD algorithm not found.",
    },
  ],
});

describe("encryption backend choice", () => {
  it("uses kernel ESP where the probe found it, the user-space datapath otherwise, saying why", () => {
    assert.equal(chooseBackend(caps(true)).kind, "kernel");
    const d = chooseBackend(caps(false));
    assert.equal(d.kind, "userspace");
    assert.match(d.reason, /lacks ESP.*Requested AEAD algorithm not found/);
  });

  it("refuses a forced kernel backend without ESP, naming the probe's reason", () => {
    assert.throws(
      () => chooseBackend(caps(false), "kernel"),
      (e: unknown) =>
        isSwarmnetError(e, ErrorCode.KernelUnsupported) &&
        /Requested AEAD algorithm not found/.test(e.message),
    );
    assert.equal(chooseBackend(caps(true), "userspace").kind, "userspace");
  });
});

describe("encryption config", () => {
  it("defaults are valid", () => {
    assert.deepEqual(loadEncryptionConfig(), ENCRYPTION_DEFAULTS);
  });

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ backend: "maybe" }, /encryption\.backend: must be one of auto, kernel, userspace/],
    [{ userspaceOverlayMtu: 70000 }, /encryption\.userspaceOverlayMtu: must be an integer in 576\.\.65439/],
    [{ relayCidr: "198.18.0.0/30" }, /encryption\.relayCidr: needs at least 256 addresses/],
    [{ dataPort: 4789 }, /encryption\.dataPort: must differ from vxlanPort/],
    [{ xfrmMark: 0x01000005 }, /encryption\.xfrmMark: 0x01000005 is one of the routing mesh's ingress marks/],
    [{ relayDevice: "snenc1" }, /three relay device names must differ/],
    [{ relayTapDevice: "a-very-long-device-name" }, /encryption\.relayTapDevice/],
    [{ nope: 1 }, /encryption\.nope: unknown field/],
  ];
  for (const [override, message] of bad) {
    it(`rejects ${JSON.stringify(override)} naming the field`, () => {
      assert.throws(
        () => loadEncryptionConfig(override),
        (e: unknown) => isSwarmnetError(e, ErrorCode.InvalidConfig) && message.test(e.message),
      );
    });
  }
});

describe("encryption relay addresses", () => {
  it("maps a peer to the relay address with its host bits, stable while it stays", () => {
    const pool = new RelayAddressPool("198.18.0.0/16");
    const m = pool.update(["100.64.1.2", "100.64.1.3"]);
    assert.equal(m.get("100.64.1.2"), "198.18.1.2");
    assert.equal(m.get("100.64.1.3"), "198.18.1.3");
    pool.update(["100.64.1.3", "100.64.1.4"]);
    assert.equal(pool.relayOf("100.64.1.3"), "198.18.1.3");
    assert.equal(pool.relayOf("100.64.1.2"), undefined);
    assert.equal(pool.wakeAddress, "198.18.0.0");
  });

  it("resolves host-bit collisions and never hands out the wake-up or last address", () => {
    const pool = new RelayAddressPool("198.18.0.0/24");
    const m = pool.update(["10.0.0.5", "10.0.1.5", "10.9.9.0", "10.9.9.255"]);
    assert.equal(new Set(m.values()).size, 4);
    for (const v of m.values()) assert.ok(v !== "198.18.0.0" && v !== "198.18.0.255", v);
  });

  it("refuses more peers than addresses, changing nothing", () => {
    const pool = new RelayAddressPool("198.18.0.0/24");
    pool.update(["10.0.0.1"]);
    const many = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    assert.throws(() => pool.update(many), /do not fit the relay prefix/);
    assert.equal(pool.relayOf("10.0.0.1"), "198.18.0.1");
  });
});

describe("encryption plaintext guard (user space)", () => {
  it("lets encrypted VNIs' VXLAN packets pass only through the relay device", () => {
    const script = renderGuard({
      vxlanPorts: [4789],
      vnis: [4102],
      mode: { kind: "userspace", relayDevice: "snenc0" },
    });
    assert.match(script, /oifname != "snenc0" udp dport 4789 @th,96,24 @encrypted_vnis counter drop/);
    assert.match(script, /iifname != "snenc0" udp dport 4789 @th,96,24 @encrypted_vnis counter drop/);
    assert.match(script, /elements = \{ 4102 \}/);
  });

  it("guards every VXLAN port it is given, as one set", () => {
    const script = renderGuard({
      vxlanPorts: [7789, 4789, 7789],
      vnis: [4102],
      mode: { kind: "userspace", relayDevice: "snenc0" },
    });
    assert.match(
      script,
      /oifname != "snenc0" udp dport \{ 4789, 7789 \} @th,96,24 @encrypted_vnis counter drop/,
    );
    assert.match(
      script,
      /iifname != "snenc0" udp dport \{ 4789, 7789 \} @th,96,24 @encrypted_vnis counter drop/,
    );
  });

  it("refuses the data-path port that is its own data port, and a non-port, before touching the kernel", async () => {
    const runner = new RecordingRunner();
    const b = new UserspaceEncryptionBackend({
      executor: new Executor(runner),
      config: loadEncryptionConfig(),
      localAddr: "100.64.1.1",
      runDir: "/nonexistent",
    });
    assert.throws(() => b.setVxlanPort(4800), /data-path port 4800 is the encrypted overlays' own UDP port/);
    assert.throws(() => b.setVxlanPort(70000), /VXLAN port 70000 is not a UDP port/);
    await b.setVxlanPort(7789);
    assert.deepEqual(runner.lines(), [], "nothing programmed before start()");
  });

  it("without encrypted VNIs only removes its table (idempotently)", () => {
    assert.equal(
      renderGuard({ vxlanPorts: [4789], vnis: [], mode: { kind: "userspace", relayDevice: "snenc0" } }),
      "table ip swarmnet_encryption {}\ndelete table ip swarmnet_encryption\n",
    );
  });
});

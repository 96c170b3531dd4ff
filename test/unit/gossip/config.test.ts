import assert from "node:assert/strict";
import { DEFAULTS, loadGossipConfig } from "../../../agent/gossip/config.js";

describe("gossip config", () => {
  it("LAN defaults carry memberlist's values", () => {
    const c = loadGossipConfig({ nodeName: "n1" });
    assert.equal(c.profile, "lan");
    assert.equal(c.probeIntervalMs, 1000);
    assert.equal(c.probeTimeoutMs, 500);
    assert.equal(c.suspicionMult, 4);
    assert.equal(c.suspicionMaxTimeoutMult, 6);
    assert.equal(c.gossipIntervalMs, 200);
    assert.equal(c.gossipNodes, 3);
    assert.equal(c.gossipToTheDeadMs, 30_000);
    assert.equal(c.pushPullIntervalMs, 30_000);
    assert.equal(c.retransmitMult, 4);
    assert.equal(c.indirectChecks, 3);
    assert.equal(c.awarenessMaxMultiplier, 8);
    assert.equal(c.packetBudgetBytes, 1400);
  });

  it("WAN and Local profiles override the timings, and overrides win over profiles", () => {
    const wan = loadGossipConfig({ nodeName: "n1", profile: "wan" });
    assert.equal(wan.probeIntervalMs, 5000);
    assert.equal(wan.probeTimeoutMs, 3000);
    assert.equal(wan.suspicionMult, 6);
    const local = loadGossipConfig({ nodeName: "n1", profile: "local", gossipNodes: "5" });
    assert.equal(local.probeTimeoutMs, 200);
    assert.equal(local.gossipIntervalMs, 100);
    assert.equal(local.gossipNodes, 5);
    assert.equal(DEFAULTS.probeTimeoutMs, 500, "profiles do not mutate the defaults");
  });

  it("names the bad field", () => {
    assert.throws(() => loadGossipConfig({}), /gossip\.nodeName/);
    assert.throws(() => loadGossipConfig({ nodeName: "n1", probeTimeoutMs: -1 }), /gossip\.probeTimeoutMs/);
    assert.throws(
      () => loadGossipConfig({ nodeName: "n1", profile: "moon" }),
      /gossip\.profile: must be one of lan, wan, local/,
    );
    assert.throws(
      () => loadGossipConfig({ nodeName: "n1", probeTimeoutMs: 2000 }),
      /must not exceed probeIntervalMs/,
    );
    assert.throws(
      () => loadGossipConfig({ nodeName: "n1", encryptionKeys: ["short"] }),
      /gossip\.encryptionKeys: item 0/,
    );
    assert.throws(() => loadGossipConfig({ nodeName: "n1", fanout: 3 }), /gossip\.fanout: unknown field/);
  });
});

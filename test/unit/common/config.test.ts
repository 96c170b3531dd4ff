import assert from "node:assert/strict";
import {
  durationMs,
  int,
  ipv4,
  list,
  loadConfig,
  oneOf,
  hostPort,
  parseDurationMs,
  type ConfigSpec,
} from "../../../common/config.js";
import { ErrorCode } from "../../../common/errors.js";

interface Sample {
  probeIntervalMs: number;
  retransmitMult: number;
  profile: "lan" | "wan";
  bindAddr: string;
  seeds: string[];
}

const SPEC: ConfigSpec<Sample> = {
  probeIntervalMs: durationMs({ min: 10 }),
  retransmitMult: int({ min: 1, max: 100 }),
  profile: oneOf(["lan", "wan"]),
  bindAddr: ipv4(),
  seeds: list(hostPort()),
};

const DEFAULTS: Sample = {
  probeIntervalMs: 1000,
  retransmitMult: 4,
  profile: "lan",
  bindAddr: "0.0.0.0",
  seeds: [],
};

describe("config", () => {
  it("returns the defaults when nothing is overridden", () => {
    assert.deepEqual(loadConfig("gossip", SPEC, DEFAULTS), DEFAULTS);
  });

  it("accepts string forms from flags and the environment", () => {
    const c = loadConfig("gossip", SPEC, DEFAULTS, {
      probeIntervalMs: "2s",
      retransmitMult: "6",
      seeds: "10.0.0.1:7946,10.0.0.2:7946",
    });
    assert.equal(c.probeIntervalMs, 2000);
    assert.equal(c.retransmitMult, 6);
    assert.deepEqual(c.seeds, ["10.0.0.1:7946", "10.0.0.2:7946"]);
  });

  it("reads Go's duration syntax, compound forms included, and plain milliseconds", () => {
    const cases: [string, number][] = [
      ["500ms", 500],
      ["2s", 2000],
      ["1m30s", 90_000],
      ["1h0m5s", 3_605_000],
      ["1.5s", 1500],
      ["250000us", 250],
      ["250", 250],
    ];
    for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text);
    for (const text of ["", "1m30", "2 s", "-1s", "s", "1d"]) {
      assert.throws(() => parseDurationMs(text), /must be a duration like 500ms, 2s, 1m30s/, text);
    }
  });

  const bad: [string, unknown, RegExp][] = [
    ["retransmitMult", -1, /^gossip\.retransmitMult: must be an integer in 1\.\.100, got -1$/],
    ["retransmitMult", "abc", /^gossip\.retransmitMult: .*"abc"/],
    ["probeIntervalMs", "5", /^gossip\.probeIntervalMs: must be between 10 ms/],
    ["profile", "mars", /^gossip\.profile: must be one of lan, wan, got "mars"$/],
    ["bindAddr", "300.1.1.1", /^gossip\.bindAddr: must be an IPv4 address/],
    ["seeds", ["10.0.0.1:7946", "nope"], /^gossip\.seeds: item 1: must be host:port/],
    ["tyop", 1, /^gossip\.tyop: unknown field$/],
  ];
  for (const [field, value, message] of bad) {
    it(`rejects ${field}=${JSON.stringify(value)} with a message naming the field`, () => {
      assert.throws(
        () => loadConfig("gossip", SPEC, DEFAULTS, { [field]: value }),
        (err: unknown) => {
          assert.equal((err as { code?: string }).code, ErrorCode.InvalidConfig);
          assert.match((err as Error).message, message);
          return true;
        },
      );
    });
  }
});

import assert from "node:assert/strict";
import { parsePing, pingArgs } from "../../../bench/ping.js";

const reply = (seq: number, ms: number) => `64 bytes from 10.0.0.2: icmp_seq=${seq} ttl=64 time=${ms} ms`;

describe("ping series (bench/ping.ts)", () => {
  it("waits two seconds past the last probe: -w, not ping's own linger", () => {
    assert.deepEqual(pingArgs("10.0.0.2", 20, 0.05), [
      "ping",
      "-n",
      "-c",
      "20",
      "-i",
      "0.05",
      "-w",
      "3",
      "10.0.0.2",
    ]);
  });

  it("counts a late reply as answered, and the extra probes ping sent while waiting for it not at all", () => {
    const out = [
      reply(1, 0.5),
      reply(3, 0.4),
      reply(4, 0.6),
      reply(2, 120), // late, after 3 and 4
      reply(5, 0.5), // beyond count: ping probed on while 2 was missing
      "--- 10.0.0.2 ping statistics ---",
      "5 packets transmitted, 5 received, 0% packet loss, time 210ms",
    ].join("\n");
    const p = parsePing(out, 4);
    assert.equal(p.sent, 4);
    assert.equal(p.received, 4);
    assert.equal(p.avgMs, (0.5 + 0.4 + 0.6 + 120) / 4);
  });

  it("a probe never answered is lost; a duplicate reply counts once", () => {
    const out = [
      reply(1, 0.5),
      `${reply(1, 0.7)} (DUP!)`,
      reply(3, 0.5),
      "4 packets transmitted, 2 received, +1 duplicates, 50% packet loss, time 3000ms",
    ].join("\n");
    assert.deepEqual(parsePing(out, 3), { sent: 3, received: 2, avgMs: 0.5 });
  });
});

import assert from "node:assert/strict";
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIpv4,
  macFromIpv4,
  parseCidr,
  parseIpv4,
} from "../../../common/net-addr.js";

describe("IPv4 addresses", () => {
  it("round-trips addresses and rejects malformed ones", () => {
    assert.equal(formatIpv4(parseIpv4("10.0.1.254") ?? 0), "10.0.1.254");
    for (const bad of ["10.0.1", "256.1.1.1", "01.2.3.4", "a.b.c.d", "1.2.3.4.5"]) {
      assert.equal(parseIpv4(bad), undefined, bad);
    }
  });

  it("parses prefixes strictly and tests containment and overlap", () => {
    const a = parseCidr("10.0.0.0/8");
    const b = parseCidr("10.1.2.0/24");
    const c = parseCidr("192.168.0.0/20");
    assert.ok(a && b && c);
    assert.equal(parseCidr("10.0.0.1/8"), undefined, "host bits set");
    assert.equal(formatCidr(parseCidr("10.0.0.1/8", true) ?? a), "10.0.0.0/8");
    assert.ok(cidrsOverlap(a, b) && cidrsOverlap(b, a));
    assert.ok(!cidrsOverlap(a, c));
    assert.ok(cidrContains(b, parseIpv4("10.1.2.77") ?? 0));
    assert.ok(!cidrContains(b, parseIpv4("10.1.3.1") ?? 0));
  });

  it("derives an endpoint MAC from its address", () => {
    assert.equal(macFromIpv4(parseIpv4("10.0.0.5") ?? 0), "02:42:0a:00:00:05");
  });
});

/**
 * Chaos report pieces, pure: recovery per fault (the last failure through an undisturbed
 * node), disturbed nodes' failures set apart, false deaths excused only by the scenario,
 * the nftables chaos table as rendered, and the SVG as a well-formed picture.
 */
import assert from "node:assert/strict";
import { renderChaosTable, NO_IMPAIRMENT } from "../../../deploy/lab/chaos/impairments.js";
import { deathsHeld, recoveryHeld } from "../../../deploy/lab/chaos/invariants.js";
import { renderUnderlayWatch } from "../../../deploy/lab/chaos/plaintext.js";
import {
  faultReports,
  percentile,
  type ChaosReport,
  type SourcedRecord,
} from "../../../deploy/lab/chaos/report.js";
import { renderSvg } from "../../../deploy/lab/chaos/svg.js";
import { Timeline } from "../../../deploy/lab/chaos/timeline.js";

const rec = (t: number, via: string, ok: boolean, recovery = true): SourcedRecord => ({
  t,
  id: via,
  via,
  ok,
  ms: 1,
  recovery,
});

describe("chaos report (pure)", () => {
  it("recovery is the time from a fault to the last failure through an undisturbed node", () => {
    const tl = new Timeline();
    tl.open("n4", "agent", 1000, "agent killed");
    tl.close("n4", "agent", 9000);
    const events = [
      { index: 1, text: "kill agent n4", nodes: ["n4"], at: 1000, endedAt: 1100, detail: [] },
      { index: 3, text: "heal", nodes: [], at: 9000, endedAt: 9500, detail: [] },
    ];
    const records = [
      rec(500, "n1", true),
      rec(1500, "n1", false),
      rec(4200, "n2", false),
      rec(5000, "n4", false), // through the killed node: expected, not recovery
      rec(6000, "n1", false, false), // by task address: counted, not recovery
      rec(9800, "n4", false), // after heal: n4 counts again
      rec(10_000, "n1", true),
    ];
    const deaths = [
      { observer: "n1", member: "n4", at: 500 }, // before the fault: not its detection
      { observer: "n2", member: "n4", at: 3900 },
      { observer: "n1", member: "n4", at: 4100 },
    ];
    const faults = faultReports(events, records, tl, 0, 12_000, deaths);
    assert.deepEqual(
      faults.map((f) => [f.step, f.requests, f.failed, f.failedHealthy, f.recoveryMs, f.detectedMs]),
      [
        ["kill agent n4", 4, 4, 2, 3200, 2900],
        ["heal", 2, 1, 1, 800, undefined],
      ],
    );
    assert.equal(recoveryHeld(faults, 3000).held, false);
    assert.equal(recoveryHeld(faults, 5000).held, true);
    assert.equal(percentile([0, 800, 3200], 50), 800);
  });

  it("a death is false unless the member or the observer's network was disturbed (with grace)", () => {
    const tl = new Timeline();
    tl.open("n5", "network", 1000, "partitioned");
    tl.close("n5", "network", 31_000);
    const deaths = [
      { observer: "n1", member: "n5", at: 20_000 },
      { observer: "n5", member: "n1", at: 20_000 },
      { observer: "n1", member: "n5", at: 80_000 },
      { observer: "n1", member: "n2", at: 40_000 },
      { observer: "n1", member: "n2", at: 41_000 },
    ];
    assert.deepEqual(deathsHeld(deaths, tl, 0).evidence, [
      "n1 saw n2 dead at 40.0 s; the scenario never disturbed either",
    ]);
  });

  it("the chaos table drops by address and by numgen, on eth0 only, replacing itself atomically", () => {
    assert.equal(
      renderChaosTable({ dropFrom: ["100.64.1.2", "100.64.1.1"], dropTo: ["100.64.1.1"], lossPercent: 20 }),
      [
        "table inet swarmnet_chaos",
        "delete table inet swarmnet_chaos",
        "table inet swarmnet_chaos {",
        "  chain underlay_in {",
        "    type filter hook prerouting priority -300; policy accept;",
        '    iifname "eth0" ip saddr { 100.64.1.1, 100.64.1.2 } drop',
        '    iifname "eth0" numgen random mod 100 < 20 drop',
        "  }",
        "  chain underlay_out {",
        "    type filter hook postrouting priority -300; policy accept;",
        '    oifname "eth0" ip daddr { 100.64.1.1 } drop',
        '    oifname "eth0" numgen random mod 100 < 20 drop',
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    assert.equal(
      renderChaosTable(NO_IMPAIRMENT),
      "table inet swarmnet_chaos\ndelete table inet swarmnet_chaos\n",
    );
    assert.match(
      renderUnderlayWatch([4098, 4097], 4789),
      /udp dport 4789 @th,96,24 \{ 4097, 4098 \} counter/,
    );
  });

  it("the picture is one SVG with a row per entry point and a numbered line per fault", () => {
    const report = {
      scenario: "s",
      seed: 1,
      requests: { total: 3, failed: 1, failedHealthy: 0 },
      recovery: { p50Ms: 0, maxMs: 0, boundMs: 1000 },
      invariants: [{ name: "x", held: true, evidence: [] }],
      faults: [
        {
          index: 1,
          step: "kill agent n2",
          nodes: ["n2"],
          atMs: 1000,
          tookMs: 10,
          detail: [],
          requests: 2,
          failed: 1,
          failedHealthy: 0,
          recoveryMs: 0,
        },
      ],
    } as unknown as ChaosReport;
    const svg = renderSvg(
      report,
      [rec(0, "n1", true), rec(1200, "n2", false), rec(2500, "n2", true)],
      [
        { id: "n1", via: "n1" },
        { id: "n2", via: "n2" },
      ],
      [{ node: "n2", kind: "agent", from: 1000, to: 2000, why: "agent killed" }],
      0,
      3000,
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.match(svg, />n2<\/text>/);
    assert.match(svg, /1\. 1\.0 s {2}kill agent n2 → n2: 1 of 2 failed/);
    assert.match(svg, /fill="hsl\(0, 70%, 50%\)"/, "a red cell for n2's failing second");
    assert.match(svg, /url\(#hatch\)/, "the disturbed interval is hatched");
  });
});

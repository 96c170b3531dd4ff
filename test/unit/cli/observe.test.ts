/** The pure parts of `swarmnet events` and the service progress: times, filters, bars, lines. */
import assert from "node:assert/strict";
import { eventLine, parseEventTime, parseFilters } from "../../../cli/events.js";
import { bar, frame } from "../../../cli/service-progress.js";

describe("cli: events arguments and output", () => {
  const now = Date.parse("2026-01-02T15:04:05Z");
  it("reads Docker's time forms", () => {
    assert.equal(parseEventTime("1767366245", now), 1767366245000);
    assert.equal(parseEventTime("1767366245.5", now), 1767366245500);
    assert.equal(parseEventTime("10m", now), now - 600_000);
    assert.equal(parseEventTime("1h30m", now), now - 5_400_000);
    assert.equal(parseEventTime("0s", now), now);
    assert.equal(parseEventTime("2026-01-02T15:00:00Z", now), Date.parse("2026-01-02T15:00:00Z"));
    assert.throws(() => parseEventTime("yesterday", now), /invalid time "yesterday"/);
  });
  it("reads filters; refuses unknown keys and empty values", () => {
    assert.deepEqual(parseFilters(["type=node", "type=task", "event=down"]), {
      types: ["node", "task"],
      actions: ["down"],
    });
    assert.throws(() => parseFilters(["colour=red"]), /invalid filter 'colour=red'/);
    assert.throws(() => parseFilters(["type="]), /invalid filter 'type='/);
  });
  it("prints Docker's line", () => {
    assert.equal(
      eventLine({
        type: "network",
        action: "create",
        actorId: "abc",
        attributes: { name: "n", driver: "overlay" },
        timeMs: String(now),
      }),
      "2026-01-02T15:04:05.000000000Z network create abc (driver=overlay, name=n)",
    );
  });
});

describe("cli: service progress frame", () => {
  it("fills the bar by state, as Docker's 9 steps", () => {
    assert.equal(bar("running", 10), "[=========>]");
    assert.equal(bar("new", 9), "[>        ]");
    assert.equal(bar("failed", 4), "[    ]");
  });
  it("draws the overall count and one line per slot, with the error of a slot not running", () => {
    assert.deepEqual(
      frame(
        [
          { label: "1/2", state: "running", message: "" },
          { label: "2/2", state: "failed", message: "exit code 1" },
        ],
        1,
        2,
        4,
      ),
      ["overall progress: 1 out of 2 tasks", "1/2: running [===>]", "2/2: failed  [    ] exit code 1"],
    );
  });
});

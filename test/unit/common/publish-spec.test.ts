import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import {
  checkPublishSpec,
  formatPublishedPort,
  formatPublishSpec,
  matchesPublished,
  parsePublishSpec,
  type PublishSpec,
} from "../../../common/publish-spec.js";

const spec = (
  targetPort: number,
  publishedPort?: number,
  protocol: "tcp" | "udp" = "tcp",
  mode: "ingress" | "host" = "ingress",
): PublishSpec => ({
  protocol,
  targetPort,
  publishedPort,
  mode,
});

describe("publish specs (common/publish-spec)", () => {
  const good: [string, PublishSpec][] = [
    ["80", spec(80)],
    ["8080:80", spec(80, 8080)],
    ["9090:80/udp", spec(80, 9090, "udp")],
    ["80/UDP", spec(80, undefined, "udp")],
    [":80", spec(80)],
    ["published=7000,target=80,mode=host", spec(80, 7000, "tcp", "host")],
    ["target=53,protocol=udp", spec(53, undefined, "udp")],
    ["mode=ingress,target=80,published=8080,protocol=tcp", spec(80, 8080)],
    ["published=,target=80", spec(80)],
    [" 8080:80 ", spec(80, 8080)],
  ];
  for (const [text, want] of good) {
    it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parsePublishSpec(text), want));
  }

  const bad: [string, RegExp][] = [
    ["", /it is empty/],
    ["8080:", /a target port is required/],
    ["published=8080", /a target port is required \(target=PORT\)/],
    ["published=8080,target=", /a target port is required/],
    ["80/sctp", /invalid protocol "sctp" \(use tcp or udp\)/],
    ["target=80,protocol=icmp", /invalid protocol "icmp"/],
    ["target=80,mode=local", /invalid mode "local" \(use ingress or host\)/],
    ["target=80,color=red", /unknown field "color"/],
    ["target=80,target=81", /target is given twice/],
    ["0", /target port must be 1-65535, got "0"/],
    ["70000:80", /published port must be 1-65535/],
    ["http", /target port must be 1-65535/],
    ["8080-8081:80-81", /port ranges are not supported/],
    ["127.0.0.1:8080:80", /a host IP cannot be given/],
    ["target=80,,", /use key=value pairs/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text)} with one clear line`, () => {
      assert.throws(
        () => parsePublishSpec(text),
        (err: unknown) =>
          isSwarmnetError(err, ErrorCode.InvalidArgument) &&
          message.test(err.message) &&
          err.message.startsWith(`invalid publish spec ${JSON.stringify(text)}: `) &&
          !err.message.includes("\n"),
      );
    });
  }

  it("the long form round-trips; the wire form is re-checked with the same rules", () => {
    for (const [, want] of good) assert.deepEqual(parsePublishSpec(formatPublishSpec(want)), want);
    assert.deepEqual(
      checkPublishSpec({ protocol: "", targetPort: 80, publishedPort: 0, mode: "" }),
      spec(80),
    );
    assert.throws(
      () => checkPublishSpec({ protocol: "tcp", targetPort: 0, publishedPort: 8080, mode: "ingress" }),
      /a target port is required/,
    );
    assert.throws(
      () => checkPublishSpec({ protocol: "sctp", targetPort: 80, publishedPort: 0, mode: "" }),
      /invalid protocol/,
    );
  });

  it("shows ports as docker service ls does", () => {
    assert.equal(
      formatPublishedPort({ protocol: "tcp", targetPort: 80, publishedPort: 8080, mode: "ingress" }),
      "*:8080->80/tcp",
    );
    assert.equal(
      formatPublishedPort({ protocol: "udp", targetPort: 53, publishedPort: 30000, mode: "host" }),
      "*:30000->53/udp (host)",
    );
  });

  it("a removal spec matches by target (and published port when given), else a bare number by published port", () => {
    const p = { protocol: "tcp" as const, targetPort: 80, publishedPort: 8080, mode: "ingress" as const };
    assert.ok(matchesPublished(spec(80), p));
    assert.ok(matchesPublished(spec(80, 8080), p));
    assert.ok(!matchesPublished(spec(80, 9090), p));
    assert.ok(!matchesPublished(spec(80, undefined, "udp"), p));
    assert.ok(!matchesPublished(spec(8080), p));
    assert.ok(matchesPublished(spec(8080), p, true));
  });
});

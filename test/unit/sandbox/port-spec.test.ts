import assert from "node:assert/strict";
import { formatMapping, freeEphemeralPort, parsePortSpec } from "../../../agent/sandbox/index.js";

describe("run -p port specs", () => {
  const cases: [string, [string, number, number, string][]][] = [
    ["80", [["", 0, 80, "tcp"]]],
    ["8080:80", [["", 8080, 80, "tcp"]]],
    ["53/udp", [["", 0, 53, "udp"]]],
    ["127.0.0.1:8080:80", [["127.0.0.1", 8080, 80, "tcp"]]],
    ["0.0.0.0::80", [["", 0, 80, "tcp"]]],
    [
      "8000-8001:80-81/udp",
      [
        ["", 8000, 80, "udp"],
        ["", 8001, 81, "udp"],
      ],
    ],
  ];
  for (const [spec, want] of cases) {
    it(`parses ${spec}`, () => {
      assert.deepEqual(
        parsePortSpec(spec).map((m) => [m.hostIp, m.hostPort, m.containerPort, m.protocol]),
        want,
      );
    });
  }

  for (const spec of ["", "abc", "80/sctp", "70000", "90-80", "8000-8002:80-81", "1:2:3", "a:b:c:d"]) {
    it(`refuses ${JSON.stringify(spec)} with a message naming it`, () => {
      assert.throws(() => parsePortSpec(spec), new RegExp(`invalid port mapping ${JSON.stringify(spec)}`));
    });
  }

  it("prints like docker port and takes the first free ephemeral port", () => {
    assert.equal(
      formatMapping({ hostIp: "", hostPort: 32768, containerPort: 80, protocol: "tcp" }),
      "80/tcp -> 0.0.0.0:32768",
    );
    assert.equal(freeEphemeralPort(new Set(["tcp/32768", "udp/32769"]), "tcp"), 32769);
  });
});

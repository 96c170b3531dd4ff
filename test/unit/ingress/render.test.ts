/**
 * The renderer and differ as a user of `nft list` would see them: the full ruleset for a
 * small state (golden file), and how many element operations a change costs.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ErrorCode } from "../../../common/errors.js";
import {
  buildModel,
  diffModels,
  renderChangeScript,
  renderRuleset,
  type MeshState,
} from "../../../agent/ingress/index.js";

const GOLDEN = fileURLToPath(
  new URL("../../../../test/unit/ingress/golden/full-ruleset.nft", import.meta.url),
);

export const SAMPLE: MeshState = {
  ingress: [
    {
      serviceId: "web",
      protocol: "tcp",
      publishedPort: 8080,
      targetPort: 80,
      backends: ["10.255.0.5", "10.255.0.6", "10.255.0.7"],
    },
  ],
  ingressSource: "10.255.0.2",
  vips: [
    { serviceId: "web", network: "front", vip: "10.0.1.2", backends: ["10.0.1.5", "10.0.1.6"] },
    {
      serviceId: "db",
      network: "back",
      vip: "10.0.2.2",
      ports: [{ protocol: "tcp", port: 5432 }],
      backends: ["10.0.2.5"],
    },
  ],
  hostPorts: [
    { taskId: "cache.1", protocol: "udp", publishedPort: 7000, targetIp: "172.18.0.3", targetPort: 7000 },
  ],
  portMappings: [
    {
      containerId: "a1b2c3",
      hostIp: "100.64.1.1",
      protocol: "tcp",
      hostPort: 8081,
      containerIp: "172.17.0.2",
      containerPort: 80,
    },
  ],
  egress: { sourceCidrs: ["172.18.0.0/16"], bridges: ["gwbridge"] },
};

function services(n: number, backends: number): MeshState {
  const ip = (k: number) => `10.${64 + (k >>> 16)}.${(k >>> 8) & 255}.${k & 255}`;
  return {
    ingress: Array.from({ length: n }, (_, s) => ({
      serviceId: `svc${s}`,
      protocol: "tcp" as const,
      publishedPort: 20000 + s,
      targetPort: 80,
      backends: Array.from({ length: backends }, (_, b) => ip(s * backends + b)),
    })),
  };
}

function withBackends(state: MeshState, service: number, backends: string[]): MeshState {
  const ingress = [...(state.ingress ?? [])];
  const one = ingress[service];
  assert.ok(one);
  ingress[service] = { ...one, backends };
  return { ...state, ingress };
}

describe("ingress ruleset renderer", () => {
  it("renders the whole table as one replace-the-table script (golden)", () => {
    assert.equal(renderRuleset(SAMPLE), readFileSync(GOLDEN, "utf8"));
  });

  it("renders the same text whatever the order of backends in the input", () => {
    const shuffled = withBackends(SAMPLE, 0, ["10.255.0.7", "10.255.0.5", "10.255.0.6"]);
    assert.equal(renderRuleset(shuffled), renderRuleset(SAMPLE));
  });

  it("changing one backend rewrites only that backend's element", () => {
    const prev = buildModel(SAMPLE);
    const next = buildModel(withBackends(SAMPLE, 0, ["10.255.0.5", "10.255.0.9", "10.255.0.7"]), prev);
    const diff = diffModels(prev, next);
    assert.equal(
      renderChangeScript(diff),
      [
        "delete element ip swarmnet ingress_backends { tcp . 8080 . 0x01000001 }",
        "add element ip swarmnet ingress_backends { tcp . 8080 . 0x01000001 : 10.255.0.9 . 80 }",
        "",
      ].join("\n"),
    );
    assert.deepEqual(diff.removedFlows, [
      { protocol: "tcp", origDstPort: 8080, replySrc: "10.255.0.6", replySrcPort: 80 },
    ]);
  });

  it("removing a backend moves to the pick chain of the smaller count and drops the unused one", () => {
    const prev = buildModel(SAMPLE);
    const next = buildModel(withBackends(SAMPLE, 0, ["10.255.0.6", "10.255.0.7"]), prev);
    assert.equal(
      renderChangeScript(diffModels(prev, next)),
      [
        "add chain ip swarmnet ingress_pick_2",
        "add rule ip swarmnet ingress_pick_2 meta mark set numgen inc mod 2 offset 0x01000000 dnat to meta l4proto . th dport . meta mark map @ingress_backends",
        "delete element ip swarmnet ingress_ports { tcp . 8080 }",
        "delete element ip swarmnet ingress_backends { tcp . 8080 . 0x01000000, tcp . 8080 . 0x01000002 }",
        'add element ip swarmnet ingress_ports { tcp . 8080 comment "web" : jump ingress_pick_2 }',
        "add element ip swarmnet ingress_backends { tcp . 8080 . 0x01000000 : 10.255.0.7 . 80 }",
        "delete chain ip swarmnet ingress_pick_3",
        "",
      ].join("\n"),
    );
  });

  it("an unchanged state diffs to nothing", () => {
    const prev = buildModel(SAMPLE);
    assert.equal(renderChangeScript(diffModels(prev, buildModel({ ...SAMPLE }, prev))), "");
  });

  it("a one-backend change costs the same few operations at 100 and at 10,000 services", () => {
    for (const n of [100, 10_000]) {
      const state = services(n, 10);
      const prev = buildModel(state);
      const next = buildModel(
        withBackends(state, n >> 1, ["10.200.0.1", ...(state.ingress?.[n >> 1]?.backends.slice(1) ?? [])]),
        prev,
      );
      const script = renderChangeScript(diffModels(prev, next));
      assert.equal(script.trim().split("\n").length, 2, `${n} services: ${script}`);
      assert.equal(next.elementCount, n * 11);
      assert.equal(next.pickChains.size, 1, "one pick chain for every service with 10 backends");
    }
  });

  it("removing a whole VIP forgets its flows with one filter", () => {
    const prev = buildModel(SAMPLE);
    const next = buildModel({ ...SAMPLE, vips: SAMPLE.vips?.slice(1) ?? [] }, prev);
    const diff = diffModels(prev, next);
    assert.deepEqual(diff.removedFlows, [{ origDst: "10.0.1.2" }]);
    assert.deepEqual(diff.deleteChains, ["vip_addr_pick_2"]);
  });

  const bad: [string, MeshState, string, RegExp][] = [
    [
      "a port published by two services",
      {
        ingress: [
          { serviceId: "web", protocol: "tcp", publishedPort: 8080, targetPort: 80, backends: [] },
          { serviceId: "api", protocol: "tcp", publishedPort: 8080, targetPort: 80, backends: [] },
        ],
      },
      ErrorCode.PortInUse,
      /^ingress\[1\]: tcp port 8080 is already published by service web$/,
    ],
    [
      "a host-mode port an ingress service already has",
      {
        ingress: [{ serviceId: "web", protocol: "udp", publishedPort: 53, targetPort: 53, backends: [] }],
        hostPorts: [
          { taskId: "dns.1", protocol: "udp", publishedPort: 53, targetIp: "10.0.0.2", targetPort: 53 },
        ],
      },
      ErrorCode.PortInUse,
      /^hostPorts\[0\]: udp port 53 is already published by service web$/,
    ],
    [
      "a -p on one address when every address has the port",
      {
        portMappings: [
          { containerId: "c1", protocol: "tcp", hostPort: 80, containerIp: "172.17.0.2", containerPort: 80 },
          {
            containerId: "c2",
            hostIp: "1.2.3.4",
            protocol: "tcp",
            hostPort: 80,
            containerIp: "172.17.0.3",
            containerPort: 80,
          },
        ],
      },
      ErrorCode.PortInUse,
      /^portMappings\[1\]: tcp port 80 on 1\.2\.3\.4 is already published by container c1$/,
    ],
    [
      "an invalid protocol",
      {
        ingress: [
          { serviceId: "web", protocol: "sctp" as "tcp", publishedPort: 8080, targetPort: 80, backends: [] },
        ],
      },
      ErrorCode.InvalidArgument,
      /^ingress\[0\]: protocol must be tcp or udp, got "sctp"$/,
    ],
    [
      "a port out of range",
      {
        ingress: [{ serviceId: "web", protocol: "tcp", publishedPort: 70000, targetPort: 80, backends: [] }],
      },
      ErrorCode.InvalidArgument,
      /publishedPort must be a port in 1\.\.65535, got 70000/,
    ],
    [
      "a bad backend address",
      {
        ingress: [
          { serviceId: "web", protocol: "tcp", publishedPort: 80, targetPort: 80, backends: ["10.0.0.300"] },
        ],
      },
      ErrorCode.InvalidArgument,
      /backends\[0\] must be an IPv4 address, got "10\.0\.0\.300"/,
    ],
    [
      "one VIP for two services",
      {
        vips: [
          { serviceId: "a", network: "n", vip: "10.0.0.2", backends: [] },
          { serviceId: "b", network: "n", vip: "10.0.0.2", backends: [] },
        ],
      },
      ErrorCode.Conflict,
      /vip 10\.0\.0\.2 is already used by service a on n/,
    ],
    [
      "overlapping egress sources",
      { egress: { sourceCidrs: ["172.18.0.0/16", "172.18.1.0/24"], bridges: [] } },
      ErrorCode.InvalidArgument,
      /overlaps/,
    ],
  ];
  for (const [name, state, code, message] of bad) {
    it(`rejects ${name} with one clear line`, () => {
      assert.throws(
        () => buildModel(state),
        (err: unknown) => {
          assert.ok(err instanceof Error && "code" in err);
          assert.equal(err.code, code);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { planOverlay, type OverlayNetwork } from "../../../agent/drivers/overlay/index.js";
import type {
  ObservedOverlay,
  ObservedSandbox,
  OverlayDesired,
} from "../../../agent/drivers/overlay/model.js";
import { expectedOverlay } from "../../../agent/drivers/overlay/plan.js";

const NET: OverlayNetwork = {
  id: "n1",
  name: "ov1",
  vni: 4097,
  subnet: "10.0.1.0/24",
  gateway: "10.0.1.1",
  mtu: 1450,
  dstPort: 4789,
};
const EP = {
  id: "c1/n1",
  networkId: "n1",
  containerNetns: "sn-c-1",
  ifname: "eth0",
  ip: "10.0.1.2",
  mac: "02:42:0a:00:01:02",
  defaultRoute: true,
};
const REMOTE = { networkId: "n1", ip: "10.0.1.3", mac: "02:42:0a:00:01:03", vtep: "100.64.1.2" };
const nothing: ObservedOverlay = { sandboxes: new Map(), healthyEndpoints: new Set() };

function render(plan: ReturnType<typeof planOverlay>): string[] {
  return [
    ...plan.addNetns.map((n) => `netns add ${n}`),
    ...plan.steps.flatMap((s) => s.lines.map((l) => `[${s.tool} ${s.netns ?? "node"}] ${l}`)),
    ...plan.deleteNetns.map((n) => `netns del ${n}`),
  ];
}

function sandbox(partial: Partial<ObservedSandbox>): ObservedSandbox {
  return {
    netns: "sn-ov4097",
    vni: 4097,
    hasBridge: true,
    hasVxlan: true,
    veths: new Set(),
    carrier: new Set(),
    fdb: new Map(),
    neighbours: new Map(),
    ...partial,
  };
}

describe("overlay plan", () => {
  it("builds a sandbox, the VXLAN device, the endpoint and remote entries, in dependency order", () => {
    const plan = planOverlay({ networks: [NET], local: [EP], remote: [REMOTE] }, nothing, "sn-");
    assert.deepEqual(render(plan), [
      "netns add sn-ov4097",
      "[ip sn-ov4097] link set lo up",
      "[ip sn-ov4097] link add br0 type bridge",
      "[ip sn-ov4097] addr add 10.0.1.1/24 dev br0",
      "[ip sn-ov4097] link set br0 mtu 1450 up",
      "[ip node] link add vx4097 mtu 1450 type vxlan id 4097 dstport 4789 nolearning proxy",
      "[ip node] link set vx4097 netns sn-ov4097",
      "[ip sn-ov4097] link set vx4097 master br0 up",
      "[ip sn-ov4097] link add ve73df53a6 mtu 1450 type veth peer name eth0 netns sn-c-1",
      "[ip sn-ov4097] link set ve73df53a6 master br0 up",
      "[ip sn-c-1] link set lo up",
      "[ip sn-c-1] link set eth0 address 02:42:0a:00:01:02 mtu 1450",
      "[ip sn-c-1] addr add 10.0.1.2/24 dev eth0",
      "[ip sn-c-1] link set eth0 up",
      "[ip sn-c-1] route replace default via 10.0.1.1 dev eth0",
      "[bridge sn-ov4097] fdb replace 02:42:0a:00:01:03 dev vx4097 dst 100.64.1.2 self permanent",
      "[ip sn-ov4097] neigh replace 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 nud permanent",
    ]);
  });

  it("creates nothing for a network without a local endpoint, even with remote ones", () => {
    const plan = planOverlay({ networks: [NET], local: [], remote: [REMOTE] }, nothing, "sn-");
    assert.deepEqual(render(plan), []);
  });

  it("plans nothing when the kernel already matches (a restarted agent adopts)", () => {
    const observed: ObservedOverlay = {
      sandboxes: new Map([
        [
          4097,
          sandbox({
            veths: new Set(["ve73df53a6"]),
            fdb: new Map([[REMOTE.mac, REMOTE.vtep]]),
            neighbours: new Map([[REMOTE.ip, REMOTE.mac]]),
          }),
        ],
      ]),
      healthyEndpoints: new Set([EP.id]),
    };
    assert.deepEqual(
      render(planOverlay({ networks: [NET], local: [EP], remote: [REMOTE] }, observed, "sn-")),
      [],
    );
  });

  it("repoints a moved endpoint and removes entries of gone ones", () => {
    const observed: ObservedOverlay = {
      sandboxes: new Map([
        [
          4097,
          sandbox({
            veths: new Set(["ve73df53a6", "vedeadbeef"]),
            fdb: new Map([
              [REMOTE.mac, "100.64.1.9"],
              ["02:42:0a:00:01:09", "100.64.1.9"],
            ]),
            neighbours: new Map([
              [REMOTE.ip, REMOTE.mac],
              ["10.0.1.9", "02:42:0a:00:01:09"],
            ]),
          }),
        ],
      ]),
      healthyEndpoints: new Set([EP.id]),
    };
    assert.deepEqual(
      render(planOverlay({ networks: [NET], local: [EP], remote: [REMOTE] }, observed, "sn-")),
      [
        "[bridge sn-ov4097] fdb replace 02:42:0a:00:01:03 dev vx4097 dst 100.64.1.2 self permanent",
        "[ip sn-ov4097] link del vedeadbeef",
        "[ip sn-ov4097] neigh del 10.0.1.9 dev vx4097",
        "[bridge sn-ov4097] fdb del 02:42:0a:00:01:09 dev vx4097 self",
      ],
    );
  });

  it("rebuilds an endpoint whose container side is broken", () => {
    const observed: ObservedOverlay = {
      sandboxes: new Map([[4097, sandbox({ veths: new Set(["ve73df53a6"]) })]]),
      healthyEndpoints: new Set(),
    };
    const lines = render(planOverlay({ networks: [NET], local: [EP], remote: [] }, observed, "sn-"));
    assert.equal(lines[0], "[ip sn-ov4097] link del ve73df53a6");
    assert.ok(lines.includes("[ip sn-c-1] addr add 10.0.1.2/24 dev eth0"));
  });

  it("removes a sandbox no longer needed, VXLAN device first", () => {
    const observed: ObservedOverlay = {
      sandboxes: new Map([[4097, sandbox({})]]),
      healthyEndpoints: new Set(),
    };
    assert.deepEqual(render(planOverlay({ networks: [NET], local: [], remote: [] }, observed, "sn-")), [
      "[ip sn-ov4097] link del vx4097",
      "netns del sn-ov4097",
    ]);
  });

  // A normal pass plans against what the last one left (kernel.ts): that must be exactly
  // what a plan for the same desired state makes, or the fast path would redo or miss work.
  it("plans nothing against what applying the same desired state leaves (property)", () => {
    const octet = fc.integer({ min: 2, max: 9 });
    const network = fc.integer({ min: 1, max: 3 }).map((i) => ({ ...NET, id: `n${i}`, vni: 4096 + i }));
    const desired: fc.Arbitrary<OverlayDesired> = fc.record({
      networks: fc.uniqueArray(network, { selector: (n) => n.id, maxLength: 3 }),
      local: fc
        .array(
          fc.record({ c: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 1, max: 3 }), o: octet }),
          { maxLength: 6 },
        )
        .map((eps) =>
          eps.map(({ c, n, o }) => ({ ...EP, id: `c${c}/n${n}`, networkId: `n${n}`, ip: `10.0.${n}.${o}` })),
        ),
      remote: fc.array(
        fc
          .record({ n: fc.integer({ min: 1, max: 4 }), o: octet, m: octet, v: octet })
          .map(({ n, o, m, v }) => ({
            networkId: `n${n}`,
            ip: `10.0.${n}.${o}`,
            mac: `02:42:0a:00:0${n}:0${m}`,
            vtep: `100.64.1.${v}`,
          })),
        { maxLength: 8 },
      ),
    });
    fc.assert(
      fc.property(desired, (d) => {
        assert.deepEqual(render(planOverlay(d, expectedOverlay(d, "sn-"), "sn-")), []);
      }),
    );
  });
});

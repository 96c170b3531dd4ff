import assert from "node:assert/strict";
import { formatCidr, formatIpv4, parseCidr, parseIpv4, type Cidr } from "../../../common/net-addr.js";
import { isSwarmnetError, ErrorCode } from "../../../common/errors.js";
import {
  allocateAddress,
  allocateSubnet,
  checkStaticAddress,
  GLOBAL_DEFAULT_POOLS,
  GLOBAL_DEFAULT_SUBNET_SIZE,
  localDefaultPools,
  parseIpamRequest,
  poolSpecs,
  resolveIpam,
  type AddressSpace,
  type TakenPrefix,
} from "../../../manager/ipam/index.js";

const cidr = (s: string): Cidr => {
  const c = parseCidr(s);
  assert.ok(c, s);
  return c;
};
const ip = (s: string): number => {
  const a = parseIpv4(s);
  assert.ok(a !== undefined, s);
  return a;
};
const taken = (...list: string[]): TakenPrefix[] => list.map((s) => ({ cidr: cidr(s), holder: `net ${s}` }));
const globalPools = poolSpecs(GLOBAL_DEFAULT_POOLS, GLOBAL_DEFAULT_SUBNET_SIZE);

describe("IPAM subnets", () => {
  const cases: { name: string; taken: string[]; want: string }[] = [
    { name: "empty pool gives the first /24", taken: [], want: "10.0.0.0/24" },
    { name: "skips a taken /24", taken: ["10.0.0.0/24"], want: "10.0.1.0/24" },
    { name: "skips a larger user subnet", taken: ["10.0.0.0/16"], want: "10.1.0.0/24" },
    { name: "fills a hole", taken: ["10.0.0.0/24", "10.0.2.0/24"], want: "10.0.1.0/24" },
    { name: "skips a /32 underlay address", taken: ["10.0.0.7/32"], want: "10.0.1.0/24" },
    { name: "unaligned small taken blocks", taken: ["10.0.0.128/25", "10.0.1.0/26"], want: "10.0.2.0/24" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(formatCidr(allocateSubnet(globalPools, taken(...c.taken))), c.want);
    });
  }

  it("200 allocations give 200 distinct, non-overlapping /24s", () => {
    const got: TakenPrefix[] = [];
    for (let i = 0; i < 200; i++) got.push({ cidr: allocateSubnet(globalPools, got), holder: `n${i}` });
    assert.equal(new Set(got.map((g) => formatCidr(g.cidr))).size, 200);
    assert.equal(formatCidr(got[199]?.cidr ?? cidr("0.0.0.0/0")), "10.0.199.0/24");
  });

  it("a full custom pool fails cleanly, and a release is reused", () => {
    const pools = poolSpecs(["192.0.2.0/24"], 26);
    const got: TakenPrefix[] = [];
    for (let i = 0; i < 4; i++) got.push({ cidr: allocateSubnet(pools, got), holder: `n${i}` });
    assert.throws(
      () => allocateSubnet(pools, got),
      (e: unknown) => isSwarmnetError(e, ErrorCode.PoolExhausted) && /192\.0\.2\.0\/24/.test(e.message),
    );
    got.splice(2, 1); // release 192.0.2.128/26
    assert.equal(formatCidr(allocateSubnet(pools, got)), "192.0.2.128/26");
  });

  it("local pools are 172.17-31/16 and 192.168/16 in /20 blocks", () => {
    const pools = localDefaultPools();
    assert.equal(pools.length, 16);
    assert.equal(formatCidr(allocateSubnet(pools, [])), "172.17.0.0/20");
    assert.equal(formatCidr(allocateSubnet(pools, taken("172.17.0.0/16"))), "172.18.0.0/20");
  });

  it("rejects a mask length that does not fit the pool", () => {
    assert.throws(() => poolSpecs(["10.0.0.0/8"], 4), /larger than address pool/);
    assert.throws(() => poolSpecs(["10.0.0.0/8"], 31), /1\.\.30/);
    assert.throws(() => poolSpecs(["10.0.0.0/33"], 24), /invalid address pool/);
  });
});

describe("IPAM configs from flags", () => {
  const bad: { name: string; req: Partial<Parameters<typeof parseIpamRequest>[0]>; msg: RegExp }[] = [
    { name: "bad CIDR", req: { subnets: ["10.0.0.0/33"] }, msg: /invalid --subnet "10\.0\.0\.0\/33"/ },
    { name: "host bits", req: { subnets: ["10.0.0.1/24"] }, msg: /should be 10\.0\.0\.0\/24/ },
    {
      name: "gateway outside subnet",
      req: { subnets: ["10.5.0.0/24"], gateways: ["10.6.0.1"] },
      msg: /gateway 10\.6\.0\.1 is outside subnet 10\.5\.0\.0\/24/,
    },
    {
      name: "gateway is broadcast",
      req: { subnets: ["10.5.0.0/24"], gateways: ["10.5.0.255"] },
      msg: /broadcast/,
    },
    { name: "gateway without subnet", req: { gateways: ["10.5.0.1"] }, msg: /no --subnet to pair/ },
    {
      name: "ip-range outside",
      req: { subnets: ["10.5.0.0/24"], ipRanges: ["10.5.1.0/25"] },
      msg: /ip-range 10\.5\.1\.0\/25 is outside/,
    },
    { name: "overlapping subnets", req: { subnets: ["10.5.0.0/16", "10.5.1.0/24"] }, msg: /overlap/ },
    { name: "aux outside", req: { subnets: ["10.5.0.0/24"], auxAddresses: ["a=10.6.0.9"] }, msg: /outside/ },
    { name: "aux syntax", req: { subnets: ["10.5.0.0/24"], auxAddresses: ["10.5.0.9"] }, msg: /name=ip/ },
    { name: "too small", req: { subnets: ["10.5.0.0/31"] }, msg: /too small/ },
  ];
  for (const b of bad) {
    it(`rejects: ${b.name}`, () => {
      assert.throws(
        () => parseIpamRequest({ subnets: [], gateways: [], ipRanges: [], auxAddresses: [], ...b.req }),
        (e: unknown) => isSwarmnetError(e, ErrorCode.InvalidArgument) && b.msg.test(e.message),
      );
    });
  }

  it("pairs gateways and ip-ranges by position and places aux addresses by containment", () => {
    const parsed = parseIpamRequest({
      subnets: ["10.5.0.0/24", "10.6.0.0/24"],
      gateways: ["10.5.0.254", "10.6.0.254"],
      ipRanges: ["10.5.0.128/25"],
      auxAddresses: ["router=10.6.0.2"],
    });
    const [a, b] = resolveIpam(parsed, globalPools, []);
    assert.ok(a && b);
    assert.equal(formatIpv4(a.gateway), "10.5.0.254");
    assert.equal(formatCidr(a.ipRange ?? cidr("0.0.0.0/0")), "10.5.0.128/25");
    assert.equal(formatIpv4(b.gateway), "10.6.0.254");
    assert.equal(formatIpv4(b.aux.get("router") ?? 0), "10.6.0.2");
  });

  it("allocates from the pool without --subnet, gateway = first host", () => {
    const [c] = resolveIpam([], globalPools, taken("10.0.0.0/24"));
    assert.equal(formatCidr(c?.subnet ?? cidr("0.0.0.0/0")), "10.0.1.0/24");
    assert.equal(formatIpv4(c?.gateway ?? 0), "10.0.1.1");
  });

  it("refuses a user subnet overlapping a taken one, naming the holder", () => {
    const parsed = parseIpamRequest({
      subnets: ["10.0.0.0/16"],
      gateways: [],
      ipRanges: [],
      auxAddresses: [],
    });
    assert.throws(
      () => resolveIpam(parsed, globalPools, taken("10.0.3.0/24")),
      (e: unknown) =>
        isSwarmnetError(e, ErrorCode.Conflict) && /overlaps 10\.0\.3\.0\/24 \(net/.test(e.message),
    );
  });
});

describe("IPAM addresses", () => {
  const space: AddressSpace = {
    subnet: cidr("10.9.0.0/29"),
    gateway: ip("10.9.0.1"),
    reserved: [ip("10.9.0.2")],
  };

  it("skips network, gateway, aux and broadcast; fills and then fails", () => {
    const used = new Set<number>();
    const got: string[] = [];
    for (;;) {
      try {
        const a = allocateAddress(space, (x) => used.has(x));
        used.add(a);
        got.push(formatIpv4(a));
      } catch (e) {
        assert.ok(isSwarmnetError(e, ErrorCode.PoolExhausted));
        break;
      }
    }
    assert.deepEqual(got, ["10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]);
  });

  it("allocates serially after the cursor and wraps to reuse releases", () => {
    const used = new Set([ip("10.9.0.3"), ip("10.9.0.4")]);
    assert.equal(formatIpv4(allocateAddress(space, (x) => used.has(x), ip("10.9.0.5"))), "10.9.0.5");
    used.add(ip("10.9.0.5")).add(ip("10.9.0.6"));
    used.delete(ip("10.9.0.3"));
    assert.equal(formatIpv4(allocateAddress(space, (x) => used.has(x), ip("10.9.0.6"))), "10.9.0.3");
  });

  it("keeps dynamic allocation inside --ip-range", () => {
    const s: AddressSpace = {
      subnet: cidr("10.9.0.0/24"),
      gateway: ip("10.9.0.1"),
      ipRange: cidr("10.9.0.128/30"),
      reserved: [],
    };
    assert.equal(formatIpv4(allocateAddress(s, () => false)), "10.9.0.128");
  });

  it("checks static addresses", () => {
    const used = new Set([ip("10.9.0.3")]);
    const t = (x: number) => used.has(x);
    assert.throws(() => checkStaticAddress(space, ip("10.9.1.3"), t), /outside subnet/);
    assert.throws(() => checkStaticAddress(space, ip("10.9.0.1"), t), /reserved/);
    assert.throws(() => checkStaticAddress(space, ip("10.9.0.3"), t), /already in use/);
    checkStaticAddress(space, ip("10.9.0.4"), t);
  });

  it("allocates 10,000 addresses in a /16 without a repeat", () => {
    const s: AddressSpace = { subnet: cidr("10.20.0.0/16"), gateway: ip("10.20.0.1"), reserved: [] };
    const used = new Set<number>();
    let cursor = 0;
    for (let i = 0; i < 10_000; i++) {
      const a = allocateAddress(s, (x) => used.has(x), cursor);
      used.add(a);
      cursor = a + 1;
    }
    assert.equal(used.size, 10_000);
  });
});

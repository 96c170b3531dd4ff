import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { networkRequest } from "../../../common/network-spec.js";
import { ClusterService } from "../../../manager/cluster/index.js";
import { NetworkService, type CreateNetworkInput } from "../../../manager/networks/index.js";
import { keys, MemoryKv, PrefixMirror, ROOT, Store } from "../../../manager/store/index.js";
import { TEST_CSR } from "../../support/pki.js";

function input(name: string, more: Partial<CreateNetworkInput> = {}): CreateNetworkInput {
  return networkRequest(name, { driver: "overlay", ...more });
}

async function cluster(pools: string[] = [], mask = 0) {
  const kv = new MemoryKv();
  const store = new Store(kv);
  await new ClusterService(store).init({
    hostname: "n1",
    advertiseAddr: "100.64.1.1",
    underlayAddrs: ["100.64.1.1/16"],
    defaultAddrPools: pools,
    defaultAddrPoolMaskLength: mask,
    dataPathPort: 0,
    keyRotationIntervalMs: 0,
    csr: TEST_CSR,
  });
  return { kv, store, networks: new NetworkService(store) };
}

/** Every key in the store, to prove a failed request changed nothing. */
async function dump(kv: MemoryKv): Promise<string[]> {
  return (await kv.list(keys.root)).entries.map((e) => `${e.key}=${e.value}`);
}

describe("networks (in-memory store)", () => {
  it("init creates the ingress overlay on the first /24 of the pool with VNI 4096", async () => {
    const { networks } = await cluster();
    const [ingress] = await networks.list();
    assert.equal(ingress?.name, "ingress");
    assert.equal(ingress?.ingress, true);
    assert.equal(ingress?.ipam.configs[0]?.subnet, "10.0.0.0/24");
    assert.equal(ingress?.vni, 4096);
  });

  it("creates overlays with and without --subnet, each with its own VNI", async () => {
    const { networks } = await cluster();
    const a = await networks.create(input("a"));
    const b = await networks.create(input("b", { subnets: ["10.200.0.0/16"], gateways: ["10.200.0.254"] }));
    assert.equal(a.ipam.configs[0]?.subnet, "10.0.1.0/24");
    assert.equal(a.ipam.configs[0]?.gateway, "10.0.1.1");
    assert.equal(b.ipam.configs[0]?.gateway, "10.200.0.254");
    assert.deepEqual([a.vni, b.vni], [4097, 4098]);
    assert.equal(a.options["com.docker.network.driver.overlay.vxlanid_list"], "4097");
    assert.equal(a.scope, "swarm");
  });

  const refused: { name: string; req: CreateNetworkInput; code: string; msg: RegExp }[] = [
    {
      name: "overlapping subnet",
      req: input("x", { subnets: ["10.0.0.0/16"] }),
      code: ErrorCode.Conflict,
      msg: /overlaps 10\.0\.0\.0\/24 \(network ingress\)/,
    },
    {
      name: "subnet on the underlay",
      req: input("x", { subnets: ["100.64.0.0/24"] }),
      code: ErrorCode.Conflict,
      msg: /underlay of node n1/,
    },
    {
      name: "gateway outside subnet",
      req: input("x", { subnets: ["10.9.0.0/24"], gateways: ["10.8.0.1"] }),
      code: ErrorCode.InvalidArgument,
      msg: /outside subnet/,
    },
    {
      name: "bad CIDR",
      req: input("x", { subnets: ["10.9.0.0/99"] }),
      code: ErrorCode.InvalidArgument,
      msg: /invalid --subnet/,
    },
    {
      name: "duplicate name",
      req: input("ingress"),
      code: ErrorCode.AlreadyExists,
      msg: /network with name ingress already exists/,
    },
    {
      name: "second --ingress",
      req: input("ing2", { ingress: true }),
      code: ErrorCode.Conflict,
      msg: /ingress network already exists/,
    },
    {
      name: "--ingress --attachable",
      req: input("ing2", { ingress: true, attachable: true }),
      code: ErrorCode.InvalidArgument,
      msg: /cannot be attachable/,
    },
    {
      name: "unknown driver",
      req: input("x", { driver: "foo" }),
      code: ErrorCode.InvalidArgument,
      msg: /unknown network driver "foo"/,
    },
    {
      name: "encrypted=maybe",
      req: input("x", { options: { encrypted: "maybe" } }),
      code: ErrorCode.InvalidArgument,
      msg: /encrypted: "maybe"/,
    },
    {
      name: "encrypted bridge",
      req: input("x", { driver: "bridge", options: { encrypted: "" } }),
      code: ErrorCode.InvalidArgument,
      msg: /overlay networks only/,
    },
    {
      name: "bad mtu",
      req: input("x", { options: { "com.docker.network.driver.mtu": "9" } }),
      code: ErrorCode.InvalidArgument,
      msg: /68-65535/,
    },
    { name: "bad name", req: input("-x"), code: ErrorCode.InvalidArgument, msg: /invalid network name/ },
    {
      name: "--scope swarm bridge",
      req: input("x", { driver: "bridge", scope: "swarm" }),
      code: ErrorCode.InvalidArgument,
      msg: /the bridge driver does not support swarm scope/,
    },
    {
      name: "--scope local overlay",
      req: input("x", { scope: "local" }),
      code: ErrorCode.InvalidArgument,
      msg: /the overlay driver does not support local scope/,
    },
    {
      name: "--scope global",
      req: input("x", { driver: "macvlan", scope: "global", options: { parent: "eth0" } }),
      code: ErrorCode.InvalidArgument,
      msg: /invalid scope "global"/,
    },
    {
      name: "a swarm macvlan without parent",
      req: input("x", { driver: "macvlan", scope: "swarm" }),
      code: ErrorCode.InvalidArgument,
      msg: /a macvlan network needs its parent interface/,
    },
    {
      name: "a swarm ipvlan with a bad mode",
      req: input("x", { driver: "ipvlan", scope: "swarm", options: { parent: "eth0", ipvlan_mode: "l4" } }),
      code: ErrorCode.InvalidArgument,
      msg: /invalid ipvlan_mode "l4"/,
    },
    {
      name: "a swarm macvlan on VLAN 4095",
      req: input("x", { driver: "macvlan", scope: "swarm", options: { parent: "eth0.4095" } }),
      code: ErrorCode.InvalidArgument,
      msg: /invalid VLAN id 4095/,
    },
  ];
  for (const r of refused) {
    it(`refuses ${r.name} with one clear line and stores nothing`, async () => {
      const { kv, networks } = await cluster();
      const before = await dump(kv);
      await assert.rejects(networks.create(r.req), (e: unknown) => {
        assert.ok(isSwarmnetError(e), String(e));
        assert.equal(e.code, r.code);
        assert.match(e.message, r.msg);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
      assert.deepEqual(await dump(kv), before);
    });
  }

  it("accepts Docker's option names: encrypted (no value), encrypted=false, mtu", async () => {
    const { networks } = await cluster();
    const e = await networks.create(
      input("e", { options: { encrypted: "", "com.docker.network.driver.mtu": "1400" } }),
    );
    const f = await networks.create(input("f", { options: { encrypted: "false" } }));
    assert.equal(e.encrypted, true);
    assert.equal(e.mtu, 1400);
    assert.equal(f.encrypted, false);
  });

  it("local drivers get a /20 from the local pools and no VNI", async () => {
    const { networks } = await cluster();
    const br = await networks.create(input("br", { driver: "bridge" }));
    assert.equal(br.scope, "local");
    assert.equal(br.ipam.configs[0]?.subnet, "172.17.0.0/20");
    assert.equal(br.vni, undefined);
  });

  it("--scope swarm macvlan and ipvlan are the cluster's: a subnet on the nodes' segment is allowed, no VNI", async () => {
    const { networks } = await cluster();
    const mv = await networks.create(
      input("mv", {
        driver: "macvlan",
        scope: "swarm",
        subnets: ["100.64.0.0/24"],
        options: { parent: "eth0.10" },
      }),
    );
    assert.equal(mv.scope, "swarm");
    assert.equal(mv.ipam.configs[0]?.subnet, "100.64.0.0/24");
    assert.equal(mv.vni, undefined);
    const iv = await networks.create(
      input("iv", { driver: "ipvlan", scope: "swarm", options: { parent: "eth0", ipvlan_mode: "l3" } }),
    );
    assert.equal(iv.scope, "swarm");
    await assert.rejects(
      networks.create(input("iv2", { driver: "ipvlan", scope: "swarm", options: { parent: "eth0" } })),
      /network iv is already using parent interface eth0/,
    );
  });

  it("200 networks allocate 200 distinct /24s; a full custom pool fails cleanly; releases are reused", async () => {
    const { networks } = await cluster();
    const made = [];
    for (let i = 0; i < 200; i++) made.push(await networks.create(input(`n${i}`)));
    assert.equal(new Set(made.map((n) => n.ipam.configs[0]?.subnet)).size, 200);
    assert.equal(new Set(made.map((n) => n.vni)).size, 200);

    const small = await cluster(["192.0.2.0/24"], 26); // ingress takes the first of four
    for (let i = 0; i < 3; i++) await small.networks.create(input(`s${i}`));
    await assert.rejects(small.networks.create(input("s3")), (e: unknown) =>
      isSwarmnetError(e, ErrorCode.PoolExhausted),
    );
    await small.networks.remove("s1");
    const again = await small.networks.create(input("s4"));
    assert.equal(again.ipam.configs[0]?.subnet, "192.0.2.128/26");
  });

  it("refuses rm of a network in use; prune removes only unused ones and never ingress", async () => {
    const { store, networks } = await cluster();
    const used = await networks.create(input("used"));
    await networks.create(input("idle1"));
    await networks.create(input("idle2", { driver: "bridge" }));
    await store.transact(async (tx) => {
      tx.put(keys.attachment(used.id, "service:web"), { kind: "service", id: "web", name: "web" });
    });
    await assert.rejects(
      networks.remove("used"),
      (e: unknown) => isSwarmnetError(e, ErrorCode.InUse) && /in use by service web/.test(e.message),
    );
    assert.deepEqual((await networks.prune()).sort(), ["idle1", "idle2"]);
    assert.deepEqual(
      (await networks.list()).map((n) => n.name),
      ["ingress", "used"],
    );
  });

  it("inspect resolves by id, name or unique id prefix", async () => {
    const { networks } = await cluster();
    const n = await networks.create(input("web"));
    assert.equal((await networks.inspect(n.id)).name, "web");
    assert.equal((await networks.inspect(n.id.slice(0, 6))).name, "web");
    await assert.rejects(networks.inspect("nope"), /network nope not found/);
  });

  it("50 parallel creates from three managers on one store give 50 distinct subnets and VNIs", async () => {
    const { store } = await cluster();
    const managers = [new NetworkService(store), new NetworkService(store), new NetworkService(store)];
    const made = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (managers[i % 3] as NetworkService).create(input(`p${i}`))),
    );
    assert.equal(new Set(made.map((n) => n.ipam.configs[0]?.subnet)).size, 50);
    assert.equal(new Set(made.map((n) => n.vni)).size, 50);
  });

  it("managers reading from their own (lagging) mirrors still never collide, and group commit keeps each answer", async () => {
    const { kv } = await cluster();
    const mirrors = [new PrefixMirror(kv, ROOT), new PrefixMirror(kv, ROOT), new PrefixMirror(kv, ROOT)];
    const services = await Promise.all(
      mirrors.map(async (m) => {
        await m.start();
        const store = new Store(kv);
        store.readThrough(m);
        return new NetworkService(store);
      }),
    );
    try {
      const requests = Array.from({ length: 60 }, (_, i) => ({
        name: `m${i % 50}`,
        svc: services[i % 3] as NetworkService,
      }));
      const settled = await Promise.allSettled(requests.map((r) => r.svc.create(input(r.name))));
      const made = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
      const refused = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as unknown] : []));
      assert.equal(made.length, 50, "each of the 50 names created once");
      assert.equal(refused.length, 10);
      assert.ok(refused.every((e) => isSwarmnetError(e, ErrorCode.AlreadyExists)));
      assert.equal(new Set(made.map((n) => n.ipam.configs[0]?.subnet)).size, 50);
      assert.equal(new Set(made.map((n) => n.vni)).size, 50);
      // Removed through one manager, re-created at once through another whose mirror may lag.
      await (services[0] as NetworkService).remove("m7");
      assert.equal((await (services[1] as NetworkService).create(input("m7"))).name, "m7");
    } finally {
      await Promise.all(mirrors.map((m) => m.stop()));
    }
  });
});

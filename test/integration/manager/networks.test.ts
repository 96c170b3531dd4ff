/**
 * Networks through the real CLI, a real manager process and a real etcd: Docker's
 * create/ls/inspect/rm/prune semantics, every refused request a clear one-line error
 * that leaves etcd unchanged, and IPAM at scale through gRPC.
 */
import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { cidrsOverlap, parseCidr } from "../../../common/net-addr.js";
import { interfaceAddresses } from "../../../agent/dispatcher/index.js";
import type { Network__Output } from "../../../proto/generated/swarmnet/v1/Network.js";
import { EtcdKv, keys } from "../../../manager/store/index.js";
import { swarmnet } from "../../support/cli.js";
import { Fixture } from "./support.js";

describe("networks (integration: CLI → manager → etcd)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  let env: Record<string, string> = {};
  let kv: EtcdKv;
  const cli = (...args: string[]) => swarmnet(args, env);

  /** Every intent key about networks, to prove a refused request stored nothing. */
  async function networkKeys(): Promise<string[]> {
    const { entries } = await kv.list(keys.root);
    return entries
      .filter((e) => /\/(networks|names|ipam|vnis|attachments)\//.test(e.key))
      .map((e) => `${e.key}=${e.value}`);
  }

  before(async () => {
    await fx.startEtcd(1);
    const m = await fx.startManager("m1");
    env = { SWARMNET_MANAGERS: m.address, SWARMNET_CONFIG: "", SWARMNET_STATE_DIR: m.stateDir };
    kv = new EtcdKv({ endpoints: fx.endpoints, callTimeoutMs: 2000 });
    const init = await cli("swarm", "init", "--advertise-addr", "127.0.0.1", "--state-dir", m.stateDir);
    assert.equal(init.exitCode, 0, init.stderr);
    assert.match(init.stdout, /Swarm initialized/);
    await fx.serving(m);
  });

  after(async () => {
    await kv?.close();
    await fx.cleanup();
  });

  it("init made the ingress overlay; create works with and without --subnet", async () => {
    const a = await cli("network", "create", "-d", "overlay", "web");
    assert.equal(a.exitCode, 0, a.stderr);
    const b = await cli(
      "network",
      "create",
      "-d",
      "overlay",
      "--subnet",
      "10.50.0.0/24",
      "--gateway",
      "10.50.0.254",
      "--attachable",
      "--label",
      "team=blue",
      "db",
    );
    assert.equal(b.exitCode, 0, b.stderr);
    const ls = await cli("network", "ls");
    assert.equal(ls.exitCode, 0, ls.stderr);
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/m);
    for (const n of ["ingress", "web", "db"])
      assert.match(ls.stdout, new RegExp(`^[0-9a-z]{12}\\s+${n}\\s+overlay\\s+swarm$`, "m"));
    const filtered = await cli("network", "ls", "-q", "-f", "label=team=blue");
    assert.equal(filtered.stdout.trim().split("\n").length, 1);
  });

  it("inspect prints Docker's shape with the VNI in Options", async () => {
    const r = await cli("network", "inspect", "db", "ingress");
    assert.equal(r.exitCode, 0, r.stderr);
    const [db, ingress] = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(db && ingress);
    for (const field of [
      "Name",
      "Id",
      "Created",
      "Scope",
      "Driver",
      "IPAM",
      "Internal",
      "Attachable",
      "Ingress",
      "Options",
      "Labels",
      "Peers",
    ]) {
      assert.ok(field in db, `inspect has ${field}`);
    }
    assert.deepEqual(db["IPAM"], {
      Driver: "default",
      Options: null,
      Config: [{ Subnet: "10.50.0.0/24", Gateway: "10.50.0.254" }],
    });
    assert.equal(db["Attachable"], true);
    assert.deepEqual(db["Labels"], { team: "blue" });
    assert.match(
      String((db["Options"] as Record<string, string>)["com.docker.network.driver.overlay.vxlanid_list"]),
      /^\d{4,}$/,
    );
    assert.equal(ingress["Ingress"], true);
    assert.equal((ingress["IPAM"] as { Config: { Subnet: string }[] }).Config[0]?.Subnet, "10.0.0.0/24");
  });

  const refused: [string, string[], RegExp][] = [
    [
      "overlapping subnet",
      ["-d", "overlay", "--subnet", "10.50.0.0/16", "x1"],
      /overlaps 10\.50\.0\.0\/24 \(network db\)/,
    ],
    [
      "gateway outside subnet",
      ["-d", "overlay", "--subnet", "10.60.0.0/24", "--gateway", "10.61.0.1", "x2"],
      /gateway 10\.61\.0\.1 is outside subnet/,
    ],
    ["bad CIDR", ["-d", "overlay", "--subnet", "10.60.0.0/40", "x3"], /invalid --subnet/],
    ["duplicate name", ["-d", "overlay", "web"], /network with name web already exists/],
    ["second --ingress", ["-d", "overlay", "--ingress", "ing2"], /ingress network already exists/],
    [
      "--ingress --attachable",
      ["-d", "overlay", "--ingress", "--attachable", "ing3"],
      /ingress network cannot be attachable/,
    ],
    ["unknown driver", ["-d", "foo", "x4"], /unknown network driver "foo"/],
    [
      "encrypted=maybe",
      ["-d", "overlay", "-o", "encrypted=maybe", "x5"],
      /invalid value for option encrypted/,
    ],
    [
      "encryption on bridge",
      ["-d", "bridge", "--opt", "encrypted", "x6"],
      /encryption is supported on overlay networks only/,
    ],
  ];
  for (const [what, args, msg] of refused) {
    it(`refuses ${what}: one line, exit 1, nothing stored`, async () => {
      const before = await networkKeys();
      const r = await cli("network", "create", ...args);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.deepEqual(await networkKeys(), before);
    });
  }

  it("accepts --opt encrypted and encrypted=false", async () => {
    for (const [name, opt, want] of [
      ["enc1", "encrypted", true],
      ["enc2", "encrypted=false", false],
    ] as const) {
      assert.equal((await cli("network", "create", "-d", "overlay", "--opt", opt, name)).exitCode, 0);
      const [n] = JSON.parse((await cli("network", "inspect", name)).stdout) as { Encrypted: boolean }[];
      assert.equal(n?.Encrypted, want);
    }
  });

  it("refuses rm of a network in use, prune removes only unused ones", async () => {
    const [web] = JSON.parse((await cli("network", "inspect", "web")).stdout) as { Id: string }[];
    assert.ok(web);
    await kv.txn(
      [],
      [
        {
          type: "put",
          key: keys.attachment(web.Id, "service:s1"),
          value: JSON.stringify({ kind: "service", id: "s1", name: "api" }),
        },
      ],
    );
    const rm = await cli("network", "rm", "web");
    assert.equal(rm.exitCode, 1);
    assert.match(rm.stderr, /network web is in use by service api/);
    const prune = await cli("network", "prune", "-f");
    assert.equal(prune.exitCode, 0, prune.stderr);
    assert.match(prune.stdout, /Deleted Networks:/);
    const left = (await cli("network", "ls", "--format", "json")).stdout;
    assert.deepEqual((JSON.parse(left) as { Name: string }[]).map((n) => n.Name).sort(), ["ingress", "web"]);
    await kv.txn([], [{ type: "delete", key: keys.attachment(web.Id, "service:s1") }]);
    assert.equal((await cli("network", "rm", "web")).exitCode, 0);
  });

  it("IPAM: 200 networks get 200 distinct /24s and VNIs; releases are reused", async () => {
    const client = fx.client();
    const create = (name: string) =>
      client.call<Network__Output>((c, o, cb) => c.networks.Create({ name, driver: "overlay" }, o, cb));
    const made: Network__Output[] = [];
    for (let i = 0; i < 200; i++) made.push(await create(`bulk${i}`));
    assert.equal(new Set(made.map((n) => n.ipamConfigs[0]?.subnet)).size, 200);
    assert.equal(new Set(made.map((n) => n.vni)).size, 200);
    const freed = made[7]?.ipamConfigs[0]?.subnet;
    await client.call((c, o, cb) => c.networks.Remove({ network: "bulk7" }, o, cb));
    const again = await create("bulk-again");
    assert.equal(again.ipamConfigs[0]?.subnet, freed);
  });

  it("exhausting a small custom pool fails cleanly", async () => {
    const small = new Fixture();
    try {
      await small.startEtcd(1);
      const m = await small.startManager("s1");
      const e = { SWARMNET_MANAGERS: m.address, SWARMNET_CONFIG: "", SWARMNET_STATE_DIR: m.stateDir };
      // A documentation range this machine's own interfaces do not use (IPAM avoids those).
      const pool = ["198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24"].find((p) => {
        const c = parseCidr(p);
        return !interfaceAddresses().some((a) => c && cidrsOverlap(c, parseCidr(a, true) ?? c));
      });
      assert.ok(pool, "a free documentation range");
      const init = await swarmnet(
        [
          "swarm",
          "init",
          "--advertise-addr",
          "127.0.0.1",
          "--state-dir",
          m.stateDir,
          "--default-addr-pool",
          pool,
          "--default-addr-pool-mask-length",
          "26",
        ],
        e,
      );
      assert.equal(init.exitCode, 0, init.stderr);
      await small.serving(m);
      const client = small.client();
      for (let i = 0; i < 3; i++)
        await client.call((c, o, cb) => c.networks.Create({ name: `p${i}`, driver: "overlay" }, o, cb));
      const r = await swarmnet(["network", "create", "-d", "overlay", "p3"], e);
      assert.equal(r.exitCode, 1);
      assert.match(
        r.stderr,
        new RegExp(`address pool exhausted: no free subnet left in ${pool.replace(/\./g, "\\.")}`),
      );
      await assert.rejects(
        client.call((c, o, cb) => c.networks.Create({ name: "p4", driver: "overlay" }, o, cb)),
        (err: unknown) => isSwarmnetError(err, ErrorCode.PoolExhausted),
      );
    } finally {
      await small.cleanup();
    }
  });
});

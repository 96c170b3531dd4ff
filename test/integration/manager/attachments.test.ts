/**
 * Standalone containers' attachments through the agent's `ManagerAttacher`, two real
 * manager processes and a real etcd: addresses from the network's subnet, the clear
 * refusals (unknown or non-attachable network, --ip outside the subnet or taken, a full
 * pool, a node whose certificate was revoked) each leaving etcd unchanged, `network inspect` showing the
 * containers (IP, MAC) and peers, `network rm` refused while attached, and fail-over
 * to a live manager.
 */
import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError, SwarmnetError } from "../../../common/errors.js";
import { ManagerAttacher } from "../../../agent/dispatcher/index.js";
import { ManagerPool } from "../../../common/manager-pool.js";
import { clientCredentials } from "../../../common/pki/tls.js";
import type { Network__Output } from "../../../proto/generated/swarmnet/v1/Network.js";
import { EtcdKv, keys } from "../../../manager/store/index.js";
import { inspectView } from "../../../cli/network.js";
import { swarmnet } from "../../support/cli.js";
import { Fixture, type JoinedNode, type ManagerProc } from "./support.js";

async function refusal(p: Promise<unknown>): Promise<SwarmnetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SwarmnetError) return err;
    throw err;
  }
  assert.fail("expected the request to be refused");
}

describe("attachments for standalone containers (integration: agent client → managers → etcd)", function () {
  this.timeout(60_000);
  const fx = new Fixture();
  let kv: EtcdKv;
  let m1: ManagerProc;
  let m2: ManagerProc;
  let attacher: ManagerAttacher;
  let nodeId = "";
  let revoked: ManagerAttacher;
  const pools: ManagerPool[] = [];
  const poolOf = (n: JoinedNode, addresses: string[]) => {
    const p = new ManagerPool({
      addresses: () => addresses,
      credentials: clientCredentials(n.tls, { clusterId: n.response.clusterId, withIdentity: true }),
    });
    pools.push(p);
    return p;
  };
  let env: Record<string, string> = {};

  let ingressId = "";
  /** Network intent, minus the ingress network's (the scheduler gives nodes addresses there). */
  const intentKeys = async () =>
    (await kv.list(keys.root)).entries
      .filter((e) => /\/(networks|ipam|attachments)\//.test(e.key) && !e.key.includes(ingressId))
      .map((e) => `${e.key}=${e.value}`);

  before(async () => {
    await fx.startEtcd(1);
    [m1, m2] = await Promise.all([fx.startManager("m1"), fx.startManager("m2")]);
    kv = new EtcdKv({ endpoints: fx.endpoints, callTimeoutMs: 2000 });
    env = { SWARMNET_MANAGERS: m1.address, SWARMNET_CONFIG: "", SWARMNET_STATE_DIR: m1.stateDir };
    await fx.init(m1);
    await fx.joinManager(m2);
    const admin = fx.client([m1.address]);
    const node = await fx.joinNode("w1", "worker", "127.0.0.9");
    nodeId = node.response.nodeId;
    // A node that left: its certificate is still unexpired, but no longer a member's.
    const gone = await fx.joinNode("w2", "worker", "127.0.0.10");
    await poolOf(gone, [m1.address]).call((c, o, cb) => c.cluster.Leave({}, o, cb));
    revoked = new ManagerAttacher(poolOf(gone, [m1.address]));
    const create = (name: string, more: Record<string, unknown>) =>
      admin.call<Network__Output>((c, o, cb) =>
        c.networks.Create({ name, driver: "overlay", ...more }, o, cb),
      );
    // A /29: .1 is the gateway, .2-.6 are the five assignable addresses.
    await create("ov1", { subnets: ["10.70.0.0/29"], attachable: true });
    await create("ov2", {});
    const ingress = await admin.call<Network__Output>((c, o, cb) =>
      c.networks.Inspect({ network: "ingress" }, o, cb),
    );
    ingressId = ingress.id;
    attacher = new ManagerAttacher(poolOf(node, [m1.address, m2.address]));
  });

  after(async () => {
    for (const p of pools) p.close();
    await kv?.close();
    await fx.cleanup();
  });

  it("attach gives the next free address with the network's VNI, subnet, gateway and data-path port", async () => {
    const a = await attacher.attach({
      network: "ov1",
      containerId: "c1aaaa",
      containerName: "web1",
      ip: undefined,
    });
    assert.equal(a.ip, "10.70.0.2");
    assert.equal(a.intent.name, "ov1");
    assert.equal(a.intent.driver, "overlay");
    assert.equal(a.subnet, "10.70.0.0/29");
    assert.equal(a.gateway, "10.70.0.1");
    assert.equal(a.intent.attachable, true);
    assert.ok((a.intent.vni ?? 0) >= 4096);
    assert.equal(a.dataPathPort, 4789);
    // An agent retrying after a lost answer gets the same address back.
    const again = await attacher.attach({
      network: a.intent.id,
      containerId: "c1aaaa",
      containerName: "web1",
      ip: undefined,
    });
    assert.equal(again.ip, "10.70.0.2");
    const fixed = await attacher.attach({
      network: "ov1",
      containerId: "c2bbbb",
      containerName: "web2",
      ip: "10.70.0.5",
    });
    assert.equal(fixed.ip, "10.70.0.5");
  });

  const refused: [string, { network: string; ip?: string; revoked?: boolean }, ErrorCode, RegExp][] = [
    ["unknown network", { network: "nope" }, ErrorCode.NotFound, /^network nope not found$/],
    [
      "network not attachable",
      { network: "ov2" },
      ErrorCode.PermissionDenied,
      /^network ov2 is not attachable: create it with --attachable$/,
    ],
    ["the ingress network", { network: "ingress" }, ErrorCode.PermissionDenied, /ingress .*cannot attach/],
    [
      "--ip outside the subnet",
      { network: "ov1", ip: "10.71.0.9" },
      ErrorCode.InvalidArgument,
      /^network ov1: address 10\.71\.0\.9 is outside subnet 10\.70\.0\.0\/29$/,
    ],
    [
      "--ip already in use",
      { network: "ov1", ip: "10.70.0.5" },
      ErrorCode.Conflict,
      /^network ov1: address 10\.70\.0\.5 is already in use$/,
    ],
    ["--ip is the gateway", { network: "ov1", ip: "10.70.0.1" }, ErrorCode.InvalidArgument, /reserved/],
    [
      "a node that left (its certificate revoked)",
      { network: "ov1", revoked: true },
      ErrorCode.Unauthenticated,
      /no longer valid: the node left or was removed/,
    ],
  ];
  for (const [what, r, code, message] of refused) {
    it(`refuses ${what} with one clear line, storing nothing`, async () => {
      const before = await intentKeys();
      const client = r.revoked === true ? revoked : attacher;
      const err = await refusal(
        client.attach({ network: r.network, containerId: "cbad01", containerName: "bad", ip: r.ip }),
      );
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"));
      assert.deepEqual(await intentKeys(), before);
    });
  }

  it("a full pool is a clear error and stores nothing", async () => {
    for (const id of ["c3", "c4", "c5"]) {
      await attacher.attach({ network: "ov1", containerId: id, containerName: id, ip: undefined });
    }
    const before = await intentKeys();
    const err = await refusal(
      attacher.attach({ network: "ov1", containerId: "c6", containerName: "c6", ip: undefined }),
    );
    assert.equal(err.code, ErrorCode.PoolExhausted);
    assert.match(err.message, /^network ov1: no free address left in 10\.70\.0\.0\/29$/);
    assert.deepEqual(await intentKeys(), before);
  });

  it("network inspect shows the containers (IP, MAC) and the peer node; rm is refused while attached", async () => {
    // The CLI acts as a node (m1 here, which holds none of them): the view of every
    // node's containers is inspect's shape over the manager's answer.
    const cli = await swarmnet(["network", "inspect", "ov1"], env);
    assert.equal(cli.exitCode, 0, cli.stderr);
    const [own] = JSON.parse(cli.stdout) as { Containers: Record<string, unknown> }[];
    assert.deepEqual(own?.Containers, {});
    const view = inspectView(
      await fx.client().call<Network__Output>((c, o, cb) => c.networks.Inspect({ network: "ov1" }, o, cb)),
    );
    assert.deepEqual(view.Containers["c1aaaa"], {
      Name: "web1",
      EndpointID: "container:c1aaaa",
      MacAddress: "02:42:0a:46:00:02",
      IPv4Address: "10.70.0.2/29",
      IPv6Address: "",
      Node: nodeId,
    });
    assert.equal(Object.keys(view.Containers).length, 5);
    assert.deepEqual(view.Peers, [{ Name: "w1", IP: "127.0.0.9" }]);
    const rm = await swarmnet(["network", "rm", "ov1"], env);
    assert.equal(rm.exitCode, 1);
    assert.match(rm.stderr, /^swarmnet: network ov1 is in use by container web1, container web2, /);
  });

  it("release frees the address (idempotently); the network can then be removed", async () => {
    const ov1 = (
      await attacher.attach({ network: "ov1", containerId: "c1aaaa", containerName: "web1", ip: undefined })
    ).intent;
    for (const id of ["c1aaaa", "c2bbbb", "c3", "c4", "c5"]) await attacher.release(ov1.id, id);
    await attacher.release(ov1.id, "c1aaaa");
    await attacher.release("no-such-network", "c1aaaa");
    const rm = await swarmnet(["network", "rm", "ov1"], env);
    assert.equal(rm.exitCode, 0, rm.stderr);
    assert.deepEqual(
      (await intentKeys()).filter((k) => k.includes(ov1.id)),
      [],
      "nothing of ov1 is left",
    );
  });

  it("fails over to a live manager when the first one is dead", async () => {
    await swarmnet(["network", "create", "-d", "overlay", "--attachable", "ov3"], env);
    await fx.killManager(m1);
    const a = await attacher.attach({
      network: "ov3",
      containerId: "c9",
      containerName: "c9",
      ip: undefined,
    });
    assert.match(a.ip, /^\d+\.\d+\.\d+\.\d+$/);
    await attacher.release(a.intent.id, "c9");
    assert.ok(
      isSwarmnetError(
        await refusal(
          attacher.attach({ network: "ov2", containerId: "c9", containerName: "c9", ip: undefined }),
        ),
      ),
    );
  });
});

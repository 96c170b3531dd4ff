/**
 * Gossip over real sockets on 127.0.0.1 (one process, real clock): UDP probes and gossip,
 * TCP push-pull, a stopped member declared dead, encryption, NetworkDB replication, and
 * junk on the port dropped and counted. Timings are shortened through the config so the
 * test takes seconds; every wait polls with a generous deadline.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createConnection } from "node:net";
import {
  Keyring,
  loadGossipConfig,
  Memberlist,
  NetworkDB,
  UdpTcpTransport,
  type Member,
} from "../../../agent/gossip/index.js";

// Fast enough for seconds-long tests, slow enough that a loaded CI machine's scheduling
// stalls do not look like deaths (minimum suspicion 4 × 1 × 500 ms = 2 s).
const FAST = {
  profile: "local",
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  gossipIntervalMs: 100,
  suspicionMult: 4,
  pushPullIntervalMs: 5000,
  streamTimeoutMs: 2000,
};

interface Node {
  ml: Memberlist;
  db: NetworkDB;
  transport: UdpTcpTransport;
}

async function node(name: string, extra: Record<string, unknown> = {}, keyring?: Keyring): Promise<Node> {
  const transport = await UdpTcpTransport.create({ bindAddr: "127.0.0.1", bindPort: 0 });
  const ml = new Memberlist(loadGossipConfig({ ...FAST, ...extra, nodeName: name }), transport, {
    meta: Buffer.from(`vtep-of-${name}`),
    ...(keyring === undefined ? {} : { keyring }),
  });
  const db = new NetworkDB(ml, { config: { gossipIntervalMs: 50 } });
  ml.start();
  db.start();
  return { ml, db, transport };
}

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("gossip over UDP and TCP on 127.0.0.1", function () {
  this.timeout(60_000);
  const nodes: Node[] = [];
  const stopAll = (): void => {
    for (const n of nodes.splice(0)) {
      n.db.stop();
      n.ml.stop();
    }
  };
  afterEach(stopAll);

  it("forms a cluster, replicates metadata and a NetworkDB entry, and declares a stopped member dead", async () => {
    for (const name of ["a", "b", "c", "d"]) nodes.push(await node(name));
    const [a, b, c, d] = nodes as [Node, Node, Node, Node];
    assert.equal(await b.ml.join([a.transport.advertiseAddr]), 1);
    assert.equal(await c.ml.join([a.transport.advertiseAddr]), 1);
    assert.equal(await d.ml.join([b.transport.advertiseAddr]), 1);
    await until(() => nodes.every((n) => n.ml.liveMembers === 4));
    const seenMeta = a.ml.member("d")?.meta;
    assert.equal(Buffer.from(seenMeta ?? []).toString(), "vtep-of-d");

    for (const n of nodes) n.db.joinNetwork("ov1");
    await new Promise((r) => setTimeout(r, 300));
    c.db.put("ov1", "endpoints", "ep-c", Buffer.from("10.1.0.3"));
    await until(() => nodes.every((n) => n.db.entries("ov1", "endpoints").length === 1));

    const dead: string[] = [];
    a.ml.on("dead", (m: Member) => dead.push(m.name));
    d.db.stop();
    d.ml.stop(); // no leave: to the others this is a crash
    await until(() => [a, b, c].every((n) => n.ml.member("d")?.state === "dead"), 30_000);
    assert.ok(dead.includes("d"));
    assert.ok(a.ml.metrics().packetsIn > 0 && a.ml.metrics().streamsIn > 0);
  });

  it("an encrypted cluster refuses a member without the key", async () => {
    const key = new Uint8Array(32).fill(3);
    nodes.push(await node("k1", {}, new Keyring([key])), await node("k2", {}, new Keyring([key])));
    nodes.push(await node("plain"));
    const [k1, k2, plain] = nodes as [Node, Node, Node];
    assert.equal(await k2.ml.join([k1.transport.advertiseAddr]), 1);
    await until(() => k1.ml.liveMembers === 2);
    await assert.rejects(plain.ml.join([k1.transport.advertiseAddr]), /no seed reachable/);
    assert.equal(k1.ml.member("plain"), undefined);
  });

  it("drops junk datagrams and an oversized stream frame without harm, counting them", async () => {
    nodes.push(await node("j"));
    const [j] = nodes as [Node];
    const port = j.transport.port;
    const udp = createSocket("udp4");
    for (const junk of [
      Buffer.from([0xff, 0xff, 0xff]),
      Buffer.alloc(0),
      Buffer.from("GET / HTTP/1.1\r\n"),
    ]) {
      await new Promise<void>((r) => udp.send(junk, port, "127.0.0.1", () => r()));
    }
    udp.close();
    await until(() => {
      const d = j.ml.metrics().droppedPackets;
      return d.malformed + d.truncated >= 2;
    });
    // A TCP frame header announcing 1 GiB: the stream is cut, nothing is allocated.
    const closed = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port }, () => s.write(Buffer.from([0x40, 0, 0, 0])));
      s.on("close", () => resolve(true));
      s.on("error", () => undefined);
    });
    assert.ok(closed);
    assert.equal(j.ml.liveMembers, 1);
  });

  it("reports a port in use as SWARMNET_PORT_IN_USE", async () => {
    const first = await UdpTcpTransport.create({ bindAddr: "127.0.0.1", bindPort: 0 });
    try {
      await assert.rejects(UdpTcpTransport.create({ bindAddr: "127.0.0.1", bindPort: first.port }), {
        code: "SWARMNET_PORT_IN_USE",
      });
    } finally {
      first.close();
    }
    await assert.rejects(
      UdpTcpTransport.create({ bindAddr: "0.0.0.0", bindPort: 0 }),
      /advertise address is required/,
    );
  });
});

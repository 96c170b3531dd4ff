/**
 * The embedded resolver on buffers (no sockets but the fake upstream's): what a container
 * asking 127.0.0.11 would see — names, aliases, services and tasks scoped to the networks
 * it shares with them, NXDOMAIN for the rest of the swarm's names, AAAA empty, TTL 600,
 * truncation to TCP, forwarding with SERVFAIL in bounded time, and no answer for garbage.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { createServer, type Server } from "node:net";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import type { EndpointFact } from "../../../agent/attachments.js";
import { emptyState, type NetworkIntent, type ServiceIntent } from "../../../agent/dispatcher/index.js";
import { DNS_DEFAULTS } from "../../../agent/dns/config.js";
import { containerResolvConf, nodeUpstreams, parseNameservers } from "../../../agent/dns/resolv-conf.js";
import { buildNameTable, type NameTable } from "../../../agent/dns/name-table.js";
import { Resolver } from "../../../agent/dns/resolver.js";
import { Upstream, type UpstreamServer } from "../../../agent/dns/upstream.js";
import type { NodeSnapshot } from "../../../agent/node-snapshot.js";
import type { ContainerRecord, EndpointRecord } from "../../../agent/sandbox/index.js";

function network(id: string, name: string, ingress = false): NetworkIntent {
  return {
    id,
    name,
    driver: "overlay",
    scope: "swarm",
    createdAt: "",
    internal: false,
    attachable: true,
    ingress,
    ipam: { driver: "default", configs: [], options: {} },
    options: {},
    labels: {},
    vni: 4096,
    encrypted: false,
    mtu: undefined,
  };
}

const NETS = [network("net1", "ov1"), network("net2", "ov2"), network("ing", "ingress", true)];
const netName = (id: string) => NETS.find((n) => n.id === id)?.name ?? id;

function endpoint(networkId: string, ip: string, aliases: string[] = [], vip?: string): EndpointRecord {
  return {
    networkId,
    networkName: netName(networkId),
    driver: "overlay",
    ip,
    prefixLength: 24,
    gateway: "",
    mac: "",
    mtu: 1450,
    internal: false,
    aliases,
    ...(vip === undefined ? {} : { vip }),
    ifname: "eth0",
    driverData: {},
  };
}

function container(
  id: string,
  endpoints: EndpointRecord[],
  labels: Record<string, string> = {},
): ContainerRecord {
  return {
    id,
    name: id,
    netns: `sn-c-${id}`,
    command: ["sleep"],
    env: {},
    status: "running",
    pid: 1,
    exitCode: 0,
    createdAt: "",
    endpoints,
    labels,
  };
}

function fact(
  networkId: string,
  ip: string,
  name: string,
  o: { aliases?: string[]; service?: string; vip?: string; node?: string } = {},
): EndpointFact {
  return {
    networkId,
    key: `${name}/${networkId}`,
    ip,
    node: o.node ?? "n2",
    container: name,
    aliases: o.aliases ?? [],
    serviceId: o.service === undefined ? "" : `id-${o.service}`,
    serviceName: o.service ?? "",
    vip: o.vip ?? "",
    data: {},
  };
}

function service(name: string, mode: "vip" | "dnsrr", vip?: string): ServiceIntent {
  return {
    id: `id-${name}`,
    name,
    mode: "replicated",
    replicas: 2,
    endpointMode: mode,
    ports: [],
    vips: vip === undefined ? [] : [{ networkId: "net1", ip: vip, prefixLength: 24 }],
    networks: ["net1"],
    ingress: undefined,
    version: 1,
  };
}

function snapshot(
  o: { settling?: boolean; extraFacts?: EndpointFact[]; withIntent?: boolean } = {},
): NodeSnapshot {
  const intent = emptyState();
  for (const n of NETS) intent.networks.set(n.id, n);
  for (const s of [service("web", "vip", "10.0.1.100"), service("db", "dnsrr")]) intent.services.set(s.id, s);
  return {
    node: { name: "n1", advertiseAddr: "100.64.1.1", underlayMtu: 1500 },
    intent: o.withIntent === false ? undefined : intent,
    settling: o.settling ?? false,
    localNetworks: [],
    containers: [
      container("c1", [endpoint("net1", "10.0.1.2", ["one"]), endpoint("ing", "10.255.0.9")]),
      container("c3", [endpoint("net2", "10.0.2.3"), endpoint("net1", "10.0.1.13")]),
      container("web.2.x", [endpoint("net1", "10.0.1.21", [], "10.0.1.100")], { serviceName: "web" }),
    ],
    endpoints: [
      fact("net1", "10.0.1.3", "c2", { aliases: ["shared"] }),
      fact("net1", "10.0.1.5", "c5", { aliases: ["shared"] }),
      fact("net2", "10.0.2.4", "c4", { aliases: ["shared", "only2"] }),
      fact("net1", "10.0.1.20", "web.1.y", { service: "web", vip: "10.0.1.100" }),
      fact("net1", "10.0.1.30", "db.1.a", { service: "db" }),
      fact("net1", "10.0.1.31", "db.2.b", { service: "db", node: "n3" }),
      // This node's own fact of a container that is gone: the records win.
      fact("net1", "10.0.1.99", "gone", { node: "n1" }),
      ...(o.extraFacts ?? []),
    ],
  };
}

const PREDEFINED = new Set<string>();
const table = (s: NodeSnapshot): NameTable => buildNameTable(s, (id) => !PREDEFINED.has(id));

function query(name: string, type: "A" | "AAAA" | "MX" = "A", id = 4242): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
  });
}

const rcodeOf = (b: Buffer) => (b[3] ?? 0) & 0x0f;
const NXDOMAIN = 3;
const SERVFAIL = 2;

function addresses(b: Buffer): string[] {
  return (dnsPacket.decode(b).answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : []));
}

/** An upstream on 127.0.0.1: answers `*.outside.test` with 192.0.2.1 (n addresses for big.outside.test). */
class FakeUpstream {
  readonly udp = dgram.createSocket("udp4");
  readonly tcp: Server;
  queries = 0;

  constructor(private readonly bigCount = 60) {
    this.udp.on("message", (msg, from) => {
      this.queries++;
      this.udp.send(this.answer(msg, true), from.port, from.address);
    });
    this.tcp = createServer((s) => {
      s.once("data", (d) => {
        const msg = d.subarray(2, 2 + d.readUInt16BE(0));
        const out = this.answer(msg, false);
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        s.end(frame);
      });
    });
  }

  async start(): Promise<UpstreamServer> {
    await new Promise<void>((r) => this.udp.bind(0, "127.0.0.1", r));
    const port = this.udp.address().port;
    await new Promise<void>((r) => this.tcp.listen(port, "127.0.0.1", r));
    return { host: "127.0.0.1", port };
  }

  stop(): void {
    this.udp.close();
    this.tcp.close();
  }

  private answer(msg: Buffer, udp: boolean): Buffer {
    const q = dnsPacket.decode(msg);
    const name = q.questions?.[0]?.name ?? "";
    const n = name === "big.outside.test" ? this.bigCount : 1;
    const answers = Array.from({ length: n }, (_, i) => ({
      name,
      type: "A" as const,
      ttl: 30,
      data: `192.0.2.${i + 1}`,
    }));
    const truncated = udp && n > 10;
    return dnsPacket.encode({
      type: "response",
      id: q.id ?? 0,
      flags: truncated ? dnsPacket.TRUNCATED_RESPONSE : 0,
      questions: q.questions ?? [],
      answers: name.endsWith("outside.test") ? (truncated ? answers.slice(0, 10) : answers) : [],
    });
  }
}

describe("embedded DNS resolver", () => {
  let upstream: FakeUpstream;
  let servers: UpstreamServer[] = [];
  const resolverFor = (s: NodeSnapshot, cfg: Partial<typeof DNS_DEFAULTS> = {}) => {
    const t = table(s);
    return new Resolver(() => t, new Upstream(() => servers, { ...DNS_DEFAULTS, ...cfg }), DNS_DEFAULTS);
  };
  const ask = async (r: Resolver, from: string, name: string, type: "A" | "AAAA" | "MX" = "A") => {
    const out = await r.handle(query(name, type), from, "udp");
    assert.ok(out !== undefined, `no answer for ${name}`);
    return out;
  };

  before(async () => {
    upstream = new FakeUpstream();
    servers = [await upstream.start()];
  });
  after(() => upstream.stop());

  it("answers container names and aliases on shared networks, with TTL 600", async () => {
    const r = resolverFor(snapshot());
    const out = await ask(r, "c1", "c2");
    const p = dnsPacket.decode(out);
    assert.equal(p.id, 4242);
    assert.equal(rcodeOf(out), 0);
    assert.ok(p.flag_aa && p.flag_rd && p.flag_ra);
    assert.deepEqual(addresses(out), ["10.0.1.3"]);
    const first = (p.answers ?? [])[0];
    assert.equal(first?.type === "A" ? first.ttl : undefined, 600);
    assert.deepEqual(
      addresses(await ask(r, "c1", "C3.")),
      ["10.0.1.13"],
      "c3's address on the shared network",
    );
    assert.deepEqual(addresses(await ask(r, "c3", "one")), ["10.0.1.2"]);
    assert.deepEqual(addresses(await ask(r, "c1", "c1")), ["10.0.1.2"], "itself");
  });

  it("two containers sharing an alias both answer; one on another network does not", async () => {
    const r = resolverFor(snapshot());
    assert.deepEqual(addresses(await ask(r, "c1", "shared")).sort(), ["10.0.1.3", "10.0.1.5"]);
    // c3 is on ov2 first: its first network holding the name answers.
    assert.deepEqual(addresses(await ask(r, "c3", "shared")), ["10.0.2.4"]);
  });

  it("a name only on a network the asker is not on is NXDOMAIN, also as NAME.NETWORK", async () => {
    const r = resolverFor(snapshot());
    assert.equal(rcodeOf(await ask(r, "c1", "c4")), NXDOMAIN);
    assert.equal(rcodeOf(await ask(r, "c1", "only2")), NXDOMAIN);
    assert.equal(rcodeOf(await ask(r, "c1", "c4.ov2")), NXDOMAIN);
    assert.deepEqual(addresses(await ask(r, "c1", "c2.ov1")), ["10.0.1.3"]);
    assert.deepEqual(addresses(await ask(r, "c3", "c4.ov2")), ["10.0.2.4"]);
    assert.equal(rcodeOf(await ask(r, "c1", "gone")), NXDOMAIN, "this node's stale fact");
    assert.equal(upstream.queries, 0, "swarm names never go upstream");
  });

  it("ingress is no DNS network", async () => {
    const s = snapshot({ extraFacts: [fact("ing", "10.255.0.7", "oning")] });
    assert.equal(rcodeOf(await ask(resolverFor(s), "c1", "oning")), NXDOMAIN);
  });

  it("a service resolves to its VIP; tasks.SERVICE to every task; dnsrr to the tasks in turn", async () => {
    const r = resolverFor(snapshot());
    assert.deepEqual(addresses(await ask(r, "c1", "web")), ["10.0.1.100"]);
    assert.deepEqual(addresses(await ask(r, "c1", "tasks.web")).sort(), ["10.0.1.20", "10.0.1.21"]);
    assert.deepEqual(addresses(await ask(r, "c1", "web.1.y")), ["10.0.1.20"], "a task's name");
    const first = addresses(await ask(r, "c1", "db"));
    const second = addresses(await ask(r, "c1", "db"));
    assert.deepEqual([...first].sort(), ["10.0.1.30", "10.0.1.31"]);
    assert.notDeepEqual(first, second, "round robin in the answer order");
    assert.equal(rcodeOf(await ask(r, "c1", "tasks.nothing")), NXDOMAIN);
  });

  it("without the managers' intent, services still resolve from the gossiped facts", async () => {
    const r = resolverFor(snapshot({ withIntent: false }));
    assert.deepEqual(addresses(await ask(r, "c1", "web")), ["10.0.1.100"]);
    assert.deepEqual(addresses(await ask(r, "c1", "db")).sort(), ["10.0.1.30", "10.0.1.31"]);
  });

  it("AAAA and other types of a known name: NOERROR, no answer", async () => {
    const r = resolverFor(snapshot());
    for (const type of ["AAAA", "MX"] as const) {
      const out = await ask(r, "c1", "c2", type);
      assert.equal(rcodeOf(out), 0);
      assert.deepEqual(addresses(out), []);
    }
  });

  it("while settling after a restart, a swarm name not found is SERVFAIL (retry), not NXDOMAIN", async () => {
    const r = resolverFor(snapshot({ settling: true }));
    assert.equal(rcodeOf(await ask(r, "c1", "c4")), SERVFAIL);
    assert.deepEqual(addresses(await ask(r, "c1", "c2")), ["10.0.1.3"]);
  });

  it("on a network joined moments ago where no other node was heard yet, a miss is SERVFAIL", async () => {
    const s = snapshot();
    const lonely = { ...s, containers: [...s.containers, container("c9", [endpoint("net9", "10.0.9.2")])] };
    const fresh = new Resolver(
      () =>
        buildNameTable(
          lonely,
          () => true,
          () => true,
        ),
      new Upstream(() => [], DNS_DEFAULTS),
      DNS_DEFAULTS,
    );
    assert.equal(rcodeOf(await ask(fresh, "c9", "nosuch")), SERVFAIL);
    assert.equal(rcodeOf(await ask(fresh, "c1", "nosuch")), NXDOMAIN, "ov1 has other nodes' endpoints");
    const old = new Resolver(
      () =>
        buildNameTable(
          lonely,
          () => true,
          () => false,
        ),
      new Upstream(() => [], DNS_DEFAULTS),
      DNS_DEFAULTS,
    );
    assert.equal(rcodeOf(await ask(old, "c9", "nosuch")), NXDOMAIN);
  });

  it("UDP answers past 512 bytes are truncated; over TCP they are whole", async () => {
    const many = Array.from({ length: 40 }, (_, i) =>
      fact("net1", `10.0.1.${100 + i}`, `big.${i}`, { service: "big" }),
    );
    const r = resolverFor(snapshot({ extraFacts: many }));
    const udp = await ask(r, "c1", "tasks.big");
    assert.ok(udp.length <= 512);
    assert.ok(dnsPacket.decode(udp).flag_tc);
    assert.ok(addresses(udp).length > 0 && addresses(udp).length < 40);
    const tcp = await r.handle(query("tasks.big"), "c1", "tcp");
    assert.ok(tcp !== undefined);
    assert.equal(addresses(tcp).length, 40);
    assert.ok(!dnsPacket.decode(tcp).flag_tc);
  });

  it("forwards other names upstream (UDP, TCP after truncation) with the client's id", async () => {
    const r = resolverFor(snapshot());
    const out = await ask(r, "c1", "www.outside.test");
    assert.equal(dnsPacket.decode(out).id, 4242);
    assert.deepEqual(addresses(out), ["192.0.2.1"]);
    const big = await ask(r, "c1", "big.outside.test");
    assert.equal(addresses(big).length, 60, "the TCP retry's whole answer");
  });

  it("SERVFAIL within the budget when no upstream answers", async () => {
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", r));
    const saved = servers;
    servers = [{ host: "127.0.0.1", port: silent.address().port }];
    try {
      const r = resolverFor(snapshot(), { forwardAttemptMs: 200, forwardBudgetMs: 300 });
      const t0 = Date.now();
      assert.equal(rcodeOf(await ask(r, "c1", "www.outside.test")), SERVFAIL);
      assert.ok(Date.now() - t0 < 3_000);
      assert.equal(r.stats.upstreamFailed, 1);
      assert.equal(r.stats.forwarded, 0);
    } finally {
      servers = saved;
      silent.close();
    }
  });

  it("counts each query once, by what it got (the agent's swarmnet_dns_queries_total)", async () => {
    const r = resolverFor(snapshot());
    await ask(r, "c1", "c2");
    await ask(r, "c1", "c2", "AAAA");
    await ask(r, "c1", "c4");
    await ask(r, "c1", "www.outside.test");
    const twoQuestions = dnsPacket.encode({
      type: "query",
      id: 7,
      questions: [
        { type: "A", name: "c2" },
        { type: "A", name: "c3" },
      ],
    });
    assert.ok((await r.handle(twoQuestions, "c1", "udp")) !== undefined, "FORMERR is an answer");
    assert.equal(await r.handle(Buffer.from("garbage garbage"), "c1", "udp"), undefined);
    const settling = resolverFor(snapshot({ settling: true }));
    await ask(settling, "c1", "c4");
    assert.deepEqual(r.stats, {
      answered: 2,
      notFound: 1,
      notReady: 0,
      forwarded: 1,
      upstreamFailed: 0,
      malformed: 1,
      dropped: 1,
    });
    assert.equal(settling.stats.notReady, 1);
  });

  it("malformed input gets no answer: truncated, wrong counts, compression loops, huge, responses", async () => {
    const r = resolverFor(snapshot());
    const good = query("c2");
    const bad: Buffer[] = [
      Buffer.alloc(0),
      good.subarray(0, 11),
      good.subarray(0, good.length - 3),
      Buffer.concat([good.subarray(0, 4), Buffer.from([0, 9]), good.subarray(6)]), // qdcount 9
      Buffer.concat([good.subarray(0, 6), Buffer.from([0, 200]), good.subarray(8)]), // ancount 200
      // A name that points at itself.
      Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]),
      Buffer.concat([good, Buffer.alloc(70_000)]),
      dnsPacket.encode({ type: "response", id: 1, questions: [{ type: "A", name: "c2" }] }),
    ];
    for (const b of bad)
      assert.equal(await r.handle(b, "c1", "udp"), undefined, b.toString("hex").slice(0, 40));
    assert.equal(r.stats.dropped, bad.length);
  });

  it("random datagrams never crash it, and whatever it answers is a well-formed response", async function () {
    this.timeout(120_000); // 4,000 inputs, some forwarded with a 50 ms budget: seconds on a loaded machine
    const r = resolverFor(snapshot(), { forwardAttemptMs: 50, forwardBudgetMs: 50 });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 600 }), async (bytes) => {
        const out = await r.handle(Buffer.from(bytes), "c1", "udp");
        if (out === undefined) return;
        const p = dnsPacket.decode(out);
        assert.equal(p.type, "response");
        assert.equal(p.id, Buffer.from(bytes).readUInt16BE(0));
      }),
      { numRuns: 2_000 },
    );
    // Mutations of a valid query: the decoder's edge cases.
    await fc.assert(
      fc.asyncProperty(fc.nat(query("tasks.web").length - 1), fc.nat(255), async (at, value) => {
        const b = query("tasks.web");
        b[at] = value;
        const out = await r.handle(b, "c1", "udp");
        if (out !== undefined) assert.equal(dnsPacket.decode(out).type, "response");
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("embedded DNS: resolv.conf", () => {
  it("reads the node's nameservers; a container gets 127.0.0.11 or the reachable upstreams", () => {
    const text = "# comment\nsearch example\nnameserver 10.1.1.1\nnameserver 127.0.0.53\nnameserver bogus\n";
    assert.deepEqual(parseNameservers(text), ["10.1.1.1", "127.0.0.53"]);
    assert.deepEqual(
      nodeUpstreams([], () => text),
      [
        { host: "10.1.1.1", port: 53 },
        { host: "127.0.0.53", port: 53 },
      ],
    );
    assert.deepEqual(
      nodeUpstreams(["100.64.0.100:5353"], () => text),
      [{ host: "100.64.0.100", port: 5353 }],
    );
    assert.deepEqual(
      nodeUpstreams([], () => {
        throw new Error("ENOENT");
      }),
      [],
    );
    assert.equal(containerResolvConf(true, []), "nameserver 127.0.0.11\noptions ndots:0\n");
    const plain = containerResolvConf(
      false,
      nodeUpstreams([], () => text),
    );
    assert.match(plain, /nameserver 10\.1\.1\.1\n/);
    assert.doesNotMatch(plain, /127\.0\.0\.53/, "a loopback upstream is unreachable from a container");
  });
});

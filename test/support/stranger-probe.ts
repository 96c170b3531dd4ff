/**
 * What a stranger on the underlay can do, run inside a lab namespace:
 *   node dist/test/support/stranger-probe.js '<json>'
 * with { targets: ["ip:port", …], identity?: "<file with key + chain>", foreignCa?: true,
 * garbage?: true }. For every target it tries, concurrently, with a short deadline:
 *
 *   plain     gRPC without TLS
 *   tls       TLS without a client certificate (the server not verified either)
 *   identity  TLS presenting the given node key and certificate (an expired or revoked one)
 *   foreign   TLS presenting a certificate of a CA made here (another cluster's CA, with a
 *             manager's subject)
 *
 * each of these calls: `Networks/Create` (a control API), `Attachments/Release` (an
 * agent's call) and etcd's `KV/Range` over the whole key space. With `garbage`, it also
 * sends random bytes and a malformed TLS ClientHello to every target (TCP) and random
 * datagrams (UDP). Prints a JSON array of {target, mode, call, ok, error}; it never
 * throws for a refused call: the test decides.
 */
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { createSocket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { protoType } from "../../common/proto.js";
import { createCsr, createRootCa, generateKeyPair, issueNodeCertificate } from "../../common/pki/x509.js";
import { pemBlocks } from "../../common/pki/cert-info.js";

export interface ProbeOptions {
  targets: string[];
  identity?: string;
  foreignCa?: boolean;
  garbage?: boolean;
  udpTargets?: string[];
}

export interface ProbeResult {
  target: string;
  mode: string;
  call: string;
  ok: boolean;
  error: string;
}

const DEADLINE_MS = 4_000;

function encoded(type: string, value: Record<string, unknown>): Buffer {
  const t = protoType(type);
  return Buffer.from(t.encode(t.create(value)).finish());
}

const CALLS: Record<string, { path: string; body: Buffer }> = {
  create: {
    path: "/swarmnet.v1.Networks/Create",
    body: encoded("CreateNetworkRequest", { name: "evil", driver: "overlay" }),
  },
  release: {
    path: "/swarmnet.v1.Attachments/Release",
    body: encoded("ReleaseNetworkRequest", { networkId: "x", containerId: "y" }),
  },
  // RangeRequest{key: "\0", range_end: "\0"}: every key.
  etcd: { path: "/etcdserverpb.KV/Range", body: Buffer.from([0x0a, 0x01, 0x00, 0x12, 0x01, 0x00]) },
};

function call(
  target: string,
  creds: grpc.ChannelCredentials,
  path: string,
  body: Buffer,
): Promise<string | undefined> {
  const client = new grpc.Client(target, creds, { "grpc.ssl_target_name_override": "swarm-manager" });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      { deadline: Date.now() + DEADLINE_MS },
      (err) => {
        client.close();
        resolve(err === null ? undefined : `${err.code}: ${err.details}`);
      },
    );
  });
}

async function foreignIdentity(): Promise<{ key: Buffer; chain: Buffer }> {
  const ca = await createRootCa("foreign", 1, 86_400_000);
  const key = await generateKeyPair();
  const chain = await issueNodeCertificate({
    csrPem: await createCsr(key),
    identity: { clusterId: "foreign", nodeId: "intruder", role: "manager" },
    issuerPem: ca.certPem,
    issuerKey: ca.key.privateKey,
    validityMs: 86_400_000,
  });
  return { key: Buffer.from(key.privateKeyPem), chain: Buffer.from(chain) };
}

function sendGarbage(target: string): Promise<void> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  // A TLS record header announcing a handshake, then nonsense.
  const hello = Buffer.concat([
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]),
    randomBytes(512),
  ]);
  const payloads = [
    randomBytes(2048),
    hello,
    Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "x".repeat(300)),
  ];
  return Promise.all(
    payloads.map(
      (p) =>
        new Promise<void>((resolve) => {
          const s = createConnection({ host, port }, () => s.end(p));
          s.setTimeout(2_000, () => s.destroy());
          s.on("error", () => resolve());
          s.on("close", () => resolve());
          s.resume();
        }),
    ),
  ).then(() => undefined);
}

function sendDatagrams(target: string): Promise<void> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  const s = createSocket("udp4");
  return new Promise((resolve) => {
    let left = 20;
    for (let i = 0; i < 20; i++) {
      s.send(randomBytes(1 + ((i * 97) % 1400)), port, host, () => {
        if (--left === 0) {
          s.close();
          resolve();
        }
      });
    }
  });
}

export async function probe(o: ProbeOptions): Promise<ProbeResult[]> {
  const modes: [string, grpc.ChannelCredentials][] = [
    ["plain", grpc.credentials.createInsecure()],
    [
      "tls",
      grpc.credentials.createSsl(null, null, null, {
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      }),
    ],
  ];
  const tlsWith = (key: Buffer, chain: Buffer) =>
    grpc.credentials.createSsl(null, key, chain, {
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
  if (o.identity !== undefined) {
    const text = readFileSync(o.identity, "utf8");
    const [key] = pemBlocks(text, "PRIVATE KEY");
    modes.push([
      "identity",
      tlsWith(Buffer.from(key ?? ""), Buffer.from(pemBlocks(text, "CERTIFICATE").join(""))),
    ]);
  }
  if (o.foreignCa === true) {
    const f = await foreignIdentity();
    modes.push(["foreign", tlsWith(f.key, f.chain)]);
  }
  const jobs: Promise<ProbeResult>[] = [];
  for (const target of o.targets) {
    for (const [mode, creds] of modes) {
      for (const [name, c] of Object.entries(CALLS)) {
        jobs.push(
          call(target, creds, c.path, c.body).then((error) => ({
            target,
            mode,
            call: name,
            ok: error === undefined,
            error: error ?? "",
          })),
        );
      }
    }
  }
  const results = await Promise.all(jobs);
  if (o.garbage === true) {
    await Promise.all([...o.targets.map(sendGarbage), ...(o.udpTargets ?? []).map(sendDatagrams)]);
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(process.argv[2] ?? "{}") as ProbeOptions;
  process.stdout.write(JSON.stringify(await probe(options)));
}

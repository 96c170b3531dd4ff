/**
 * The cluster PKI without a network: issuing from CSRs, the cross-signed chain a CA
 * rotation relies on (verified by Node's own TLS), join tokens pinning the bundle, the
 * KEK's sealing and wrapping, authorization by certificate, the CA's rotation lifecycle
 * over the in-memory store, and the manager pool's fail-over arithmetic.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { ManagerPool } from "../../../common/manager-pool.js";
import { formatJoinToken, parseJoinToken } from "../../../common/pki/join-token.js";
import { readNodeTls, writeNodeTls } from "../../../common/pki/node-files.js";
import {
  createCsr,
  createRootCa,
  crossSign,
  generateKeyPair,
  issueNodeCertificate,
} from "../../../common/pki/x509.js";
import { bundleDigest, nodeCertInfo, signedBy } from "../../../common/pki/cert-info.js";
import { renewalTime } from "../../../agent/dispatcher/renewal.js";
import { CertificateAuthority, ClusterService } from "../../../manager/cluster/index.js";
import { authorize, NOT_A_MANAGER, type AuthorizationSource } from "../../../manager/grpc/authorization.js";
import { readKekFile, unwrapKek, writeKekFile, newUnlockKey } from "../../../manager/keys/kek-file.js";
import { SealedKv } from "../../../manager/keys/sealed-kv.js";
import { newKek, Vault } from "../../../manager/keys/vault.js";
import { keys, MemoryKv, Store, type NodeRecord } from "../../../manager/store/index.js";
import { TEST_CSR } from "../../support/pki.js";

const DAY = 86_400_000;

async function leafOf(
  ca: { certPem: string; key: { privateKey: CryptoKeyLike } },
  role: "manager" | "worker" = "manager",
) {
  const key = await generateKeyPair();
  const cert = await issueNodeCertificate({
    csrPem: await createCsr(key),
    identity: { clusterId: "c1", nodeId: "node1", role },
    issuerPem: ca.certPem,
    issuerKey: ca.key.privateKey,
    validityMs: DAY,
  });
  return { key: key.privateKeyPem, cert };
}
/** The CSR with one byte of its signature changed. */
function tampered(pem: string): string {
  const body = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
  body[body.length - 3] = (body[body.length - 3] ?? 0) ^ 1;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
}
type CryptoKeyLike = Parameters<typeof issueNodeCertificate>[0]["issuerKey"];

/** A TLS handshake between a server presenting `chain` and a client trusting `ca`. */
async function verifies(key: string, chain: string, ca: string): Promise<boolean> {
  const server = createServer({ key, cert: chain }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<boolean>((resolve) => {
      const s: TLSSocket = connect(
        { port, host: "127.0.0.1", ca, checkServerIdentity: () => undefined },
        () => {
          resolve(s.authorized);
          s.end();
        },
      );
      s.on("error", () => resolve(false));
    });
  } finally {
    server.close();
  }
}

describe("cluster PKI", () => {
  it("issues a node certificate from a CSR naming cluster, role and node, signed by the root", async () => {
    const ca = await createRootCa("c1", 1, 10 * DAY);
    const { cert } = await leafOf(ca, "worker");
    const info = nodeCertInfo(cert);
    assert.deepEqual([info.clusterId, info.role, info.nodeId], ["c1", "worker", "node1"]);
    assert.ok(signedBy(cert, ca.certPem));
    assert.ok(info.notAfter.getTime() - Date.now() <= DAY);
    await assert.rejects(
      issueNodeCertificate({
        csrPem: tampered(TEST_CSR),
        identity: { clusterId: "c1", nodeId: "n", role: "worker" },
        issuerPem: ca.certPem,
        issuerKey: ca.key.privateKey,
        validityMs: DAY,
      }),
      (e: unknown) => isSwarmnetError(e, ErrorCode.InvalidArgument) && /certificate request/.test(e.message),
    );
  });

  it("rotation: a leaf of the new root plus the cross-signed root verifies for old and new trust, not for a stranger", async () => {
    const old = await createRootCa("c1", 1, 10 * DAY);
    const fresh = await createRootCa("c1", 2, 10 * DAY);
    const cross = await crossSign(fresh.certPem, old.certPem, old.key.privateKey);
    const { key, cert } = await leafOf(fresh);
    assert.equal(await verifies(key, cert + cross, old.certPem), true, "old trust via the cross-signed root");
    assert.equal(await verifies(key, cert + cross, fresh.certPem), true, "new trust");
    assert.equal(
      await verifies(key, cert, old.certPem),
      false,
      "without the cross-signed root, old trust fails",
    );
    const other = await createRootCa("c2", 1, DAY);
    assert.equal(await verifies(key, cert + cross, other.certPem), false);
  });

  it("join tokens carry the bundle's digest; a changed bundle changes it", async () => {
    const a = await createRootCa("c1", 1, DAY);
    const b = await createRootCa("c1", 2, DAY);
    const d = bundleDigest(a.certPem);
    assert.match(d, /^[0-9a-z]{50}$/);
    assert.notEqual(bundleDigest(a.certPem + b.certPem), d);
    const token = formatJoinToken(d, "0123456789abcdefghijklmno");
    assert.deepEqual(parseJoinToken(token), { digest: d, secret: "0123456789abcdefghijklmno" });
    assert.throws(() => parseJoinToken(token.slice(1)), /invalid join token/);
  });

  it("the vault seals under the KEK, bound to the key; a locked vault and a wrong KEK are refused", () => {
    const vault = new Vault();
    assert.throws(() => vault.seal("/k", "v"), /locked/);
    const kek = newKek();
    vault.unlock(kek);
    const sealed = vault.seal("/swarmnet/v1/cluster", '{"secret":"s"}');
    assert.ok(!sealed.includes("secret"));
    assert.equal(vault.open("/swarmnet/v1/cluster", sealed), '{"secret":"s"}');
    assert.throws(() => vault.open("/swarmnet/v1/other", sealed), /cannot open the sealed record/);
    assert.equal(Vault.opens(newKek(), "/swarmnet/v1/cluster", sealed), false);
    assert.equal(Vault.opens(kek, "/swarmnet/v1/cluster", sealed), true);
  });

  it("the KEK file: clear without autolock, wrapped by the unlock key with it, 0600; a wrong unlock key is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "sn-t-kek-"));
    try {
      const kek = newKek();
      writeKekFile(dir, kek, undefined);
      const clear = readKekFile(dir);
      assert.ok(clear.kind === "clear" && clear.kek.equals(kek));
      assert.equal(statSync(join(dir, "manager-kek.json")).mode & 0o777, 0o600);
      const unlock = newUnlockKey();
      writeKekFile(dir, kek, unlock);
      const wrapped = readKekFile(dir);
      assert.equal(wrapped.kind, "wrapped");
      if (wrapped.kind !== "wrapped") return;
      assert.ok(unwrapKek(wrapped.wrapped, unlock).equals(kek));
      assert.throws(() => unwrapKek(wrapped.wrapped, newUnlockKey()), /invalid unlock key/);
      assert.throws(() => unwrapKek(wrapped.wrapped, "SWMKEY-1-short"), /invalid unlock key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("node files: key and chain in one 0600 file, the bundle beside it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sn-t-certs-"));
    try {
      const ca = await createRootCa("c1", 1, DAY);
      const { key, cert } = await leafOf(ca);
      writeNodeTls(dir, { keyPem: key, chainPem: cert, trustPem: ca.certPem });
      assert.equal(statSync(join(dir, "certificates", "swarm-node.pem")).mode & 0o777, 0o600);
      assert.deepEqual(readNodeTls(dir), { keyPem: key, chainPem: cert, trustPem: ca.certPem });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("authorization: by transport and certificate, never by request; the lower role wins; members only", async () => {
    const stored = new Map<string, NodeRecord>([
      ["m", { role: "manager", credentialHash: "h" } as NodeRecord],
      ["demoted", { role: "worker", credentialHash: "h" } as NodeRecord],
      ["left", { role: "manager", credentialHash: "" } as NodeRecord],
    ]);
    const src = (transport: "tls" | "local"): AuthorizationSource => ({
      transport,
      clusterId: () => "c1",
      node: async (id) => stored.get(id),
    });
    const call = (subject?: Record<string, string>) => ({
      getAuthContext: () => (subject === undefined ? {} : { sslPeerCertificate: { subject } as never }),
    });
    const cert = (cn: string, ou = "swarm-manager", o = "c1") => call({ O: o, OU: ou, CN: cn });
    assert.deepEqual(await authorize(cert("m"), "manager", src("tls")), {
      kind: "node",
      nodeId: "m",
      role: "manager",
    });
    await assert.rejects(
      authorize(cert("demoted"), "manager", src("tls")),
      (e: unknown) => isSwarmnetError(e, ErrorCode.PermissionDenied) && e.message === NOT_A_MANAGER,
    );
    await assert.rejects(authorize(cert("m", "swarm-worker"), "manager", src("tls")), /not a swarm manager/);
    assert.equal((await authorize(cert("m", "swarm-worker"), "node", src("tls"))).kind, "node");
    await assert.rejects(authorize(cert("left"), "node", src("tls")), /no longer valid/);
    await assert.rejects(authorize(cert("m", "swarm-manager", "c2"), "node", src("tls")), /another swarm/);
    await assert.rejects(authorize(call(), "node", src("tls")), (e: unknown) =>
      isSwarmnetError(e, ErrorCode.Unauthenticated),
    );
    assert.deepEqual(await authorize(call(), "anyone", src("tls")), { kind: "anonymous" });
    await assert.rejects(authorize(cert("m"), "local", src("tls")), /local socket/);
    assert.deepEqual(await authorize(call(), "manager", src("local")), { kind: "local" });
  });

  it("the CA: rotation trusts both roots and changes the digest; renewals move nodes; the leader finalizes", async () => {
    const kv = new MemoryKv();
    const vault = new Vault();
    vault.unlock(newKek());
    const store = new Store(new SealedKv(kv, vault));
    const ca = new CertificateAuthority(store);
    const cluster = new ClusterService(store, () => new Date(), ca);
    const first = await cluster.init({
      hostname: "n1",
      advertiseAddr: "100.64.1.1",
      underlayAddrs: [],
      defaultAddrPools: [],
      defaultAddrPoolMaskLength: 0,
      dataPathPort: 0,
      keyRotationIntervalMs: 0,
      csr: TEST_CSR,
    });
    const raw = (await kv.get(keys.ca)).entry?.value ?? "";
    assert.match(raw, /^sealed:v1:/, "the CA record is sealed in the store");
    assert.ok(!raw.includes("PRIVATE KEY"));
    const w = await cluster.join({
      hostname: "n2",
      advertiseAddr: "100.64.1.2",
      underlayAddrs: [],
      token: await cluster.joinToken("worker", false),
      csr: TEST_CSR,
    });
    const before = await ca.status();
    await ca.rotate();
    const during = await ca.status();
    assert.equal(during.rotating, true);
    assert.notEqual(during.digest, before.digest);
    assert.equal(during.trustBundle.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.equal(await ca.finalizeIfDone(), false, "no node moved yet");
    await assert.rejects(ca.rotate(), /already in progress/);
    const renewed = await ca.renew(w.nodeId, TEST_CSR);
    assert.equal(renewed.chain.match(/BEGIN CERTIFICATE/g)?.length, 2, "leaf + cross-signed root");
    assert.equal((await ca.status()).nodesOnCurrent, 1);
    await ca.renew(first.nodeId, TEST_CSR);
    assert.equal(await ca.finalizeIfDone(), true);
    const done = await ca.status();
    assert.equal(done.rotating, false);
    assert.equal(done.trustBundle, done.rootCertificate);
    assert.match(await cluster.joinToken("worker", false), new RegExp(done.digest));
    await assert.rejects(ca.renew("nobody", TEST_CSR), /no longer part of the cluster/);
  });

  it("renewal happens between half and four fifths of a certificate's life", () => {
    assert.equal(renewalTime(0, 100, 0), 50);
    assert.equal(renewalTime(0, 100, 0.999999) < 80, true);
    assert.equal(renewalTime(1000, 2000, 0.5), 1650);
  });

  it("the manager pool: one round of failed managers at once, then doubling backoff; an opened stream resets it", () => {
    const pool = new ManagerPool({
      addresses: () => ["a:1", "b:1", "a:1"],
      credentials: grpc.credentials.createInsecure(),
      initialBackoffMs: 100,
      maxBackoffMs: 350,
    });
    assert.deepEqual(pool.addresses(), ["a:1", "b:1"]);
    assert.equal(pool.streamTarget(), "a:1");
    assert.equal(pool.streamFailed(false), 0);
    assert.equal(pool.streamTarget(), "b:1");
    const d1 = pool.streamFailed(false);
    assert.ok(d1 >= 50 && d1 <= 100, `${d1}`);
    pool.streamFailed(false);
    const d2 = pool.streamFailed(false);
    assert.ok(d2 >= 100 && d2 <= 200, `${d2}`);
    pool.streamFailed(false);
    pool.streamFailed(false);
    pool.streamFailed(false);
    const d3 = pool.streamFailed(false);
    assert.ok(d3 <= 350, `capped: ${d3}`);
    pool.streamOpened("b:1");
    assert.equal(pool.streamFailed(true), 0, "a stream that worked fails over at once");
    pool.streamFailed(false);
    const d4 = pool.streamFailed(false);
    assert.ok(d4 <= 100, `reset: ${d4}`);
    pool.close();
  });
});

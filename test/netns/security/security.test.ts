/**
 * Issue 18's acceptance on the real kernel, in one lab built by hand (`--no-init`, then
 * `swarm init` on n1 and `swarm join` with the token on n2, n3; n4 stays out):
 *
 *   - a stranger (the `client` namespace) gets nothing from any listening TCP port of
 *     any node: no `network create`, no agent call, no etcd read — in plaintext, over TLS
 *     without a certificate, or with a certificate of another CA; garbage bytes and
 *     malformed TLS leave every process running;
 *   - a worker's `network create` is refused with Docker's message; `node promote` and
 *     `demote` re-issue its certificate with the new role; local sockets are 0600;
 *   - a capture of the underlay during join, `swarm rotate-keys` and service creation
 *     holds no plaintext HTTP/2 preface and none of the key bytes (read from the managers
 *     by an authorized path: etcd with n1's certificate, opened with n1's KEK);
 *   - refused with a clear error, the cluster unchanged: a token whose CA digest is
 *     altered, a token of another cluster, an expired certificate, a revoked node;
 *   - certificates with a 1-minute expiry renew with no stream dropped, and `swarm ca
 *     --rotate` during traffic loses no node while the published service keeps
 *     answering;
 *   - autolock: a restarted manager serves nothing until `swarm unlock`; a wrong key is
 *     refused;
 *   - no key bytes, token secret, unlock key or private key in any log of the lab or
 *     `inspect` output.
 *
 * About 4-7 minutes on this machine (most of it the 1-minute certificates' renewals and expiry).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Executor } from "../../../common/executor.js";
import { createRootCa } from "../../../common/pki/x509.js";
import { bundleDigest, nodeCertInfo, pemBlocks } from "../../../common/pki/cert-info.js";
import { formatJoinToken, parseJoinToken } from "../../../common/pki/join-token.js";
import { readKekFile } from "../../../manager/keys/kek-file.js";
import { Vault } from "../../../manager/keys/vault.js";
import { labDir, nodeDir } from "../../../deploy/lab/state.js";
import type { ProbeResult } from "../../support/stranger-probe.js";
import { BRIEF_MONITOR, swarmnet, type CliResult } from "../../support/cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";
import { captureDuring } from "../encryption/capture.js";

const PROBE = new URL("../../support/stranger-probe.js", import.meta.url).pathname;
const N1 = "100.64.1.1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface NodeRow {
  Hostname: string;
  Status: string;
  Role: string;
}

describe("security: PKI, mutual TLS, authorization, closed etcd, secrets at rest (netns lab)", function () {
  this.timeout(900_000);
  const lab = uniqueLabName();
  const ex = new Executor();
  const secrets = new Set<string>();

  const run = (node: string, ...argv: string[]) =>
    swarmnet(["lab", "exec", "--name", lab, node, "--", ...argv]);
  const sx = (node: string, ...args: string[]) => run(node, "swarmnet", ...args);
  const ok = async (node: string, ...args: string[]): Promise<string> => {
    const r = await sx(node, ...args);
    assert.equal(r.exitCode, 0, `swarmnet ${args.join(" ")} on ${node}: ${r.stderr}`);
    return r.stdout;
  };
  const nodes = async (): Promise<NodeRow[]> =>
    JSON.parse(await ok("n1", "node", "ls", "--format", "json")) as NodeRow[];
  async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > deadline) assert.fail(`${what}: not reached`);
      await sleep(500);
    }
  }
  const readyCount = async (n: number) =>
    until(`${n} ready nodes`, async () =>
      (await nodes()).filter((r) => r.Status === "Ready").length === n ? true : undefined,
    );

  /** TCP ports listening on non-loopback addresses inside a node. */
  async function listening(node: string): Promise<string[]> {
    const r = await run(node, "cat", "/proc/net/tcp");
    const out = new Set<string>();
    for (const line of r.stdout.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== "0A" || f[1] === undefined) continue;
      const [hex, portHex] = f[1].split(":") as [string, string];
      const ip = [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join(".");
      if (ip.startsWith("127.")) continue;
      const addr = ip === "0.0.0.0" ? `100.64.1.${node.slice(1)}` : ip;
      out.add(`${addr}:${parseInt(portHex, 16)}`);
    }
    return [...out];
  }

  async function strangerProbe(options: Record<string, unknown>, from = "client"): Promise<ProbeResult[]> {
    const r = await run(from, process.execPath, PROBE, JSON.stringify(options));
    assert.equal(r.exitCode, 0, `probe: ${r.stderr}`);
    return JSON.parse(r.stdout) as ProbeResult[];
  }

  /** Every key ring's bytes, read the way a manager reads them: etcd with n1's certificate, n1's KEK. */
  async function keyBytes(): Promise<Buffer[]> {
    const r = await run("n1", "etcdctl", "get", "--prefix", "/swarmnet/v1/keys/", "-w", "json");
    assert.equal(r.exitCode, 0, r.stderr);
    const disk = readKekFile(nodeDir(lab, "n1"));
    assert.equal(disk.kind, "clear");
    const vault = new Vault();
    if (disk.kind === "clear") vault.unlock(disk.kek);
    const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    return kvs.map((kv) => {
      const key = Buffer.from(kv.key, "base64").toString();
      const value = Buffer.from(kv.value, "base64").toString();
      assert.match(value, /^sealed:v1:/, `${key} is not sealed in etcd`);
      const record = JSON.parse(vault.open(key, value)) as { key: string };
      return Buffer.from(record.key, "base64");
    });
  }

  function remember(...values: string[]): void {
    for (const v of values) if (v !== "") secrets.add(v);
  }

  before(async function () {
    if (!isRoot) this.skip();
    const up = await swarmnet(["lab", "up", "--name", lab, "--nodes", "4", "--no-init"]);
    assert.equal(up.exitCode, 0, up.stderr);
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", lab]);
  });

  it("by hand: init and joins over TLS, with no plaintext HTTP/2 and no key bytes on the underlay", async () => {
    const dir = labDir(lab);
    const { frames } = await captureDuring(ex, `sn-${lab}-u`, "br0", dir, "underlay", async () => {
      const init = await sx("n1", "swarm", "init", "--advertise-addr", N1);
      assert.equal(init.exitCode, 0, init.stderr);
      const worker = (await ok("n1", "swarm", "join-token", "-q", "worker")).trim();
      remember(
        parseJoinToken(worker).secret,
        parseJoinToken((await ok("n1", "swarm", "join-token", "-q", "manager")).trim()).secret,
      );
      for (const n of ["n2", "n3"]) {
        const j = await sx(n, "swarm", "join", "--token", worker, N1);
        assert.equal(j.exitCode, 0, j.stderr);
      }
      await readyCount(3);
      await ok("n1", "network", "create", "-d", "overlay", "-o", "encrypted", "sec-net");
      await ok(
        "n1",
        "service",
        "create",
        ...BRIEF_MONITOR,
        "--name",
        "web",
        "--replicas",
        "2",
        "--network",
        "sec-net",
        "--publish",
        "8080:80",
        "--",
        "swarmnet",
        "whoami",
        "--port",
        "80",
      );
      await ok("n1", "swarm", "rotate-keys");
      await until("web answering", async () => {
        const r = await run("client", "curl", "-s", "-m", "3", `http://${N1}:8080/`);
        return /Task:/.test(r.stdout) ? true : undefined;
      });
    });
    const keys = await keyBytes();
    assert.ok(keys.length >= 6, `read ${keys.length} keys`);
    for (const k of keys) remember(k.toString("base64"), k.toString("hex"));
    const all = Buffer.concat(frames);
    assert.ok(frames.length > 100, `captured ${frames.length} frames`);
    assert.equal(all.indexOf("PRI * HTTP/2.0"), -1, "a plaintext HTTP/2 preface crossed the underlay");
    for (const k of keys) assert.equal(all.indexOf(k), -1, "key bytes crossed the underlay");
  });

  it("a stranger gets nothing from any listening TCP port; garbage and malformed TLS break nothing", async () => {
    const targets = (await Promise.all(["n1", "n2", "n3"].map(listening))).flat();
    assert.ok(targets.includes(`${N1}:2377`) && targets.includes(`${N1}:2379`), targets.join(" "));
    const results = await strangerProbe({
      targets,
      foreignCa: true,
      garbage: true,
      udpTargets: ["n1", "n2", "n3"].flatMap((n) => [
        `100.64.1.${n.slice(1)}:7946`,
        `100.64.1.${n.slice(1)}:4789`,
      ]),
    });
    assert.deepEqual(
      results.filter((r) => r.ok),
      [],
      "a call without a valid certificate succeeded",
    );
    const tlsOn2377 = results.find(
      (r) => r.target === `${N1}:2377` && r.mode === "tls" && r.call === "create",
    );
    assert.match(tlsOn2377?.error ?? "", /needs a certificate of this swarm/);
    assert.ok(!(await nodes()).some((n) => n.Hostname === "evil"));
    for (const n of ["n1", "n2", "n3"]) {
      for (const sock of ["agent.sock", "manager.sock"]) {
        const p = join(nodeDir(lab, n), sock);
        if (existsSync(p)) assert.equal(statSync(p).mode & 0o777, 0o600, `${n}'s ${sock} is not root-only`);
      }
    }
    assert.doesNotMatch(await ok("n1", "network", "ls"), /\bevil\b/);
    const status = JSON.parse(
      (await swarmnet(["lab", "status", "--name", lab, "--format", "json"])).stdout,
    ) as {
      name: string;
      agent: boolean | null;
      manager: boolean | null;
      etcd: boolean | null;
    }[];
    for (const s of status) {
      assert.notEqual(s.agent, false, `${s.name}'s agent died`);
      assert.notEqual(s.manager, false, `${s.name}'s manager died`);
      assert.notEqual(s.etcd, false, `${s.name}'s etcd died`);
    }
  });

  it("a worker's control command is refused as Docker refuses it; a stranger's CLI has no certificate", async () => {
    // An overlay: a worker may create local (bridge) networks, as on Docker, not cluster ones.
    const r = await sx("n2", "network", "create", "-d", "overlay", "nope");
    assert.equal(r.exitCode, 1);
    assert.match(
      r.stderr,
      /This node is not a swarm manager\. Worker nodes can't be used to view or modify cluster state/,
    );
    const t = await sx("n2", "swarm", "join-token", "manager");
    assert.equal(t.exitCode, 1);
    assert.match(t.stderr, /not a swarm manager/);
    const s = await sx("client", "network", "create", "-d", "overlay", "--manager", `${N1}:2377`, "evil");
    assert.equal(s.exitCode, 1);
    assert.match(s.stderr, /not part of a swarm: it has no certificate/);
  });

  it("node promote re-issues a node's certificate as a manager's; demote refuses it at once and re-issues a worker's", async () => {
    const pemFile = join(nodeDir(lab, "n2"), "certificates", "swarm-node.pem");
    const role = () => nodeCertInfo(pemBlocks(readFileSync(pemFile, "utf8"), "CERTIFICATE")[0] ?? "").role;
    assert.equal(role(), "worker");
    assert.match(await ok("n1", "node", "promote", "n2"), /Node n2 promoted to a manager in the swarm\./);
    await until("n2's certificate names a manager", async () => (role() === "manager" ? true : undefined));
    await ok("n2", "network", "ls");
    assert.match(await ok("n1", "node", "demote", "n2"), /Manager n2 demoted in the swarm\./);
    // The managers take the lower of the certificate's role and their record's.
    const r = await sx("n2", "network", "ls");
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /not a swarm manager/);
    await until("n2's certificate names a worker", async () => (role() === "worker" ? true : undefined));
  });

  it("tokens with an altered CA digest or of another cluster are refused before the secret is sent", async () => {
    const token = (await ok("n1", "swarm", "join-token", "-q", "worker")).trim();
    const { digest, secret } = parseJoinToken(token);
    const altered = formatJoinToken(`${digest.slice(0, -1)}${digest.endsWith("a") ? "b" : "a"}`, secret);
    const other = await createRootCa("another", 1, 86_400_000);
    const foreign = formatJoinToken(bundleDigest(other.certPem), "0123456789abcdefghijklmno");
    const before = (await nodes()).length;
    for (const bad of [altered, foreign]) {
      const r = await sx("n4", "swarm", "join", "--token", bad, N1);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /does not have the CA this join token names/);
      assert.ok(!r.stderr.includes(secret));
    }
    assert.equal((await nodes()).length, before);
    assert.ok(!existsSync(join(nodeDir(lab, "n4"), "certificates")), "n4 got certificates");
  });

  it("a removed node's certificate is refused from then on", async () => {
    const n3 = join(nodeDir(lab, "n3"), "certificates", "swarm-node.pem");
    const asN3 = async () =>
      (await strangerProbe({ targets: [`${N1}:2377`], identity: n3 })).find(
        (r) => r.mode === "identity" && r.call === "release",
      );
    assert.equal((await asN3())?.ok, true, "n3's own call works before");
    await ok("n1", "node", "rm", "--force", "n3");
    const after = await asN3();
    assert.equal(after?.ok, false);
    assert.match(after?.error ?? "", /no longer valid: the node left or was removed/);
    await readyCount(2);
  });

  it("certificates of 1 minute renew, and a CA rotation during traffic drops no node and no request", async () => {
    await ok("n1", "swarm", "update", "--cert-expiry", "1m");
    const sessions = () =>
      ["n1", "n2"].map(
        (n) =>
          (readFileSync(join(nodeDir(lab, n), "agent.log"), "utf8").match(/dispatcher session open/g) ?? [])
            .length,
      );
    const opened = sessions();
    const serial = (n: string) => {
      const pem = readFileSync(join(nodeDir(lab, n), "certificates", "swarm-node.pem"), "utf8");
      return pemBlocks(pem, "CERTIFICATE")[0] ?? "";
    };
    const first = { n1: serial("n1"), n2: serial("n2") };
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const r: CliResult = await run("client", "curl", "-s", "-m", "3", `http://100.64.1.2:8080/`);
        requests++;
        if (!/Task:/.test(r.stdout)) failures.push(`${r.exitCode} ${r.stderr.slice(0, 80)}`);
        await sleep(300);
      }
    })();
    try {
      const rotate = await sx("n1", "swarm", "ca", "--rotate");
      assert.equal(rotate.exitCode, 0, rotate.stderr);
      assert.match(rotate.stdout, /rotated: all 2 nodes have a certificate of the new root/);
      const second = { n1: serial("n1"), n2: serial("n2") };
      assert.notEqual(second.n1, first.n1);
      assert.notEqual(second.n2, first.n2);
      // 1-minute certificates (the shortest allowed) renew between 30 and 48 s: wait for one more
      // renewal each.
      await until(
        "every node renewed its 1-minute certificate",
        async () => (serial("n1") !== second.n1 && serial("n2") !== second.n2 ? true : undefined),
        240_000,
      );
      await readyCount(2);
    } finally {
      stop = true;
      await traffic;
    }
    assert.deepEqual(sessions(), opened, "a dispatcher stream was re-opened");
    assert.ok(requests >= 3, `${requests} requests`);
    assert.deepEqual(failures, [], "the published service stopped answering");
    const token = (await ok("n1", "swarm", "join-token", "-q", "worker")).trim();
    assert.equal(
      parseJoinToken(token).digest,
      bundleDigest(readFileSync(join(nodeDir(lab, "n2"), "certificates", "swarm-root-ca.crt"), "utf8")),
    );
  });

  it("an expired certificate is refused, by the CLI and by the managers", async () => {
    // n2's agent stops renewing; its 1-minute certificate runs out.
    await swarmnet(["lab", "restart", "--name", lab, "--process", "agent", "--stop-only", "n2"]);
    const pemFile = join(nodeDir(lab, "n2"), "certificates", "swarm-node.pem");
    const { notAfter } = nodeCertInfo(pemBlocks(readFileSync(pemFile, "utf8"), "CERTIFICATE")[0] ?? "");
    const wait = notAfter.getTime() - Date.now() + 2_000;
    if (wait > 0) await sleep(wait);
    const cli = await sx("n2", "node", "ls");
    assert.equal(cli.exitCode, 1);
    assert.match(cli.stderr, /certificate expired at/);
    const r = (await strangerProbe({ targets: [`${N1}:2377`], identity: pemFile })).find(
      (x) => x.mode === "identity" && x.call === "release",
    );
    assert.equal(r?.ok, false);
    assert.match(r?.error ?? "", /needs a certificate of this swarm/);
    await swarmnet(["lab", "restart", "--name", lab, "--process", "agent", "n2"]);
  });

  it("autolock: a restarted manager serves nothing until unlocked; a wrong key is refused", async () => {
    // A locked single manager renews nobody: give n1 a long-lived certificate first.
    await ok("n1", "swarm", "update", "--cert-expiry", "2160h");
    const n1Cert = join(nodeDir(lab, "n1"), "certificates", "swarm-node.pem");
    await until(
      "n1 to renew into a long-lived certificate",
      async () => {
        const { notAfter } = nodeCertInfo(pemBlocks(readFileSync(n1Cert, "utf8"), "CERTIFICATE")[0] ?? "");
        return notAfter.getTime() > Date.now() + 3_600_000 ? true : undefined;
      },
      240_000,
    );
    const out = await ok("n1", "swarm", "update", "--autolock=true");
    const key = /SWMKEY-1-\S+/.exec(out)?.[0];
    assert.ok(key, out);
    remember(key);
    const r1 = await swarmnet(["lab", "restart", "--name", lab, "--process", "manager", "n1"]);
    assert.equal(r1.exitCode, 0, r1.stderr);
    await until("the restarted manager to be up and locked", async () => {
      const r = await run("n1", "sh", "-c", "test -S $(dirname $SWARMNET_CONFIG)/manager.sock && echo up");
      return r.stdout.includes("up") ? true : undefined;
    });
    await sleep(3_000);
    const locked = await sx("n1", "node", "ls");
    assert.equal(locked.exitCode, 1);
    assert.match(locked.stderr, /cannot reach/);
    const wrong = await run(
      "n1",
      "sh",
      "-c",
      `echo SWMKEY-1-${Buffer.alloc(32, 7).toString("base64")} | swarmnet swarm unlock`,
    );
    assert.equal(wrong.exitCode, 1);
    assert.match(wrong.stderr, /invalid unlock key/);
    const right = await run("n1", "sh", "-c", `echo ${key} | swarmnet swarm unlock`);
    assert.equal(right.exitCode, 0, right.stderr);
    await until("the manager to serve again", async () =>
      (await sx("n1", "node", "ls")).exitCode === 0 ? true : undefined,
    );
    await ok("n1", "swarm", "update", "--autolock=false");
  });

  it("no key bytes, token secret, unlock key or private key in any log of the lab or inspect output", async () => {
    const inspected = [
      await ok("n1", "swarm", "inspect"),
      await ok("n1", "node", "inspect", "n1", "n2"),
      await ok("n1", "network", "inspect", "sec-net"),
      await ok("n1", "service", "inspect", "web"),
    ].join("\n");
    for (const s of secrets) assert.ok(!inspected.includes(s), "an inspect output holds a secret");
    assert.ok(!inspected.includes("PRIVATE KEY"), "an inspect output holds a private key");
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        const st = statSync(p);
        if (st.isDirectory()) {
          if (!["etcd", "certificates", "etcd-tls"].includes(e)) walk(p);
        } else if (/\.log$/.test(e)) files.push(p);
      }
    };
    walk(labDir(lab));
    assert.ok(files.length >= 8, files.join(" "));
    assert.ok(secrets.size >= 10, `${secrets.size} secrets`);
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      for (const s of secrets) assert.ok(!text.includes(s), `${f} holds a secret`);
      assert.ok(!text.includes("PRIVATE KEY"), `${f} holds a private key`);
    }
  });
});

/**
 * Real etcd and real manager processes on loopback for the manager's integration tests:
 * unique ports (asked from the kernel) and a temporary data dir per run, and a `Fixture`
 * that stops every process it started and removes its files — call `cleanup()` in
 * `after`, it is safe after a failure half-way through.
 *
 * Managers speak mutual TLS only, as in production: each has a state dir
 * (`<dir>/<name>`); `init()` runs `swarm init` on the first one's local socket (its node
 * certificate becomes the fixture's admin identity), `joinManager(m)` gives another
 * manager its certificate with the manager token (the real join flow) so it opens its
 * listener, and `joinNode()` makes the certificate of a synthetic agent.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { writeCredentials } from "../../../agent/dispatcher/credentials.js";
import { joinFlow } from "../../../cli/join-flow.js";
import { localManagerSocket, ManagerClient, nodeCredentials } from "../../../cli/manager-client.js";
import { writeNodeTls, type NodeTlsFiles } from "../../../common/pki/node-files.js";
import { TlsSource } from "../../../common/pki/tls.js";
import { createCsr, generateKeyPair } from "../../../common/pki/x509.js";
import { readKekFile } from "../../../manager/keys/kek-file.js";
import { SealedKv } from "../../../manager/keys/sealed-kv.js";
import { Vault } from "../../../manager/keys/vault.js";
import { EtcdKv } from "../../../manager/store/index.js";
import type { JoinResponse__Output } from "../../../proto/generated/swarmnet/v1/JoinResponse.js";
import { CLI_MAIN } from "../../support/netns.js";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true (or a value), up to `timeoutMs`. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(100);
  }
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: ChildProcess | undefined;
}

export interface ManagerProc {
  name: string;
  address: string;
  stateDir: string;
  proc: ChildProcess;
}

/** A node that joined: its answer and its TLS material (for a DispatcherClient). */
export interface JoinedNode {
  response: JoinResponse__Output;
  files: NodeTlsFiles;
  tls: TlsSource;
}

export class Fixture {
  private madeDir: string | undefined;
  readonly members: EtcdMember[] = [];
  readonly managers: ManagerProc[] = [];
  private readonly procs = new Set<ChildProcess>();
  private readonly clients: ManagerClient[] = [];

  /** The fixture's temporary folder, made on first use (a skipped suite makes none). */
  get dir(): string {
    this.madeDir ??= mkdtempSync(join(tmpdir(), "sn-t-manager-"));
    return this.madeDir;
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  private spawnLogged(
    name: string,
    file: string,
    args: string[],
    env: Record<string, string> = {},
  ): ChildProcess {
    const fd = openSync(join(this.dir, `${name}.log`), "a");
    const p = spawn(file, args, { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    this.procs.add(p);
    p.once("exit", () => this.procs.delete(p));
    return p;
  }

  /** An etcd cluster of `size` members on loopback; resolves when it serves. */
  async startEtcd(size: number): Promise<void> {
    for (let i = 1; i <= size; i++) {
      const [c, p] = [await freePort(), await freePort()];
      this.members.push({
        name: `e${i}`,
        clientUrl: `http://127.0.0.1:${c}`,
        peerUrl: `http://127.0.0.1:${p}`,
        dataDir: join(this.dir, `e${i}`),
        proc: undefined,
      });
    }
    for (const m of this.members) this.startMember(m, "new");
    const kv = new EtcdKv({ endpoints: this.endpoints, callTimeoutMs: 1000 });
    try {
      await eventually(async () => (await kv.get("/probe")).revision > 0, 30_000, "etcd to serve");
    } finally {
      await kv.close();
    }
  }

  startMember(m: EtcdMember, state: "new" | "existing"): void {
    m.proc = this.spawnLogged(m.name, "etcd", [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.members.map((x) => `${x.name}=${x.peerUrl}`).join(",")}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=sn-t-${this.dir.slice(-6)}`,
      "--log-level=error",
    ]);
  }

  async killMember(m: EtcdMember): Promise<void> {
    await killProc(m.proc, "SIGKILL");
    m.proc = undefined;
  }

  /**
   * A manager process on loopback; resolves when its local socket is up (it opens its
   * TLS listener once it has a certificate: `init()` or `joinManager()`).
   */
  async startManager(name: string, endpoints = this.endpoints, extra: string[] = []): Promise<ManagerProc> {
    const address = `127.0.0.1:${await freePort()}`;
    const stateDir = join(this.dir, name);
    mkdirSync(stateDir, { recursive: true });
    const proc = this.spawnLogged(
      `manager-${name}`,
      process.execPath,
      [
        CLI_MAIN,
        "manager",
        `--node-name=${name}`,
        `--listen=${address}`,
        `--etcd=${endpoints.join(",")}`,
        `--state-dir=${stateDir}`,
        "--cert-poll=100ms",
        // Several managers share this loopback: each takes a free port for its metrics.
        "--metrics-addr=127.0.0.1:0",
        ...extra,
      ],
      { SWARMNET_LOG_LEVEL: "info" },
    );
    const m = { name, address, stateDir, proc };
    this.managers.push(m);
    await eventually(
      async () => existsSync(localManagerSocket(stateDir)),
      90_000,
      `manager ${name} to start`,
    );
    return m;
  }

  /** The admin identity: the first manager's node (after `init`). */
  get adminStateDir(): string {
    const first = this.managers[0];
    if (first === undefined) throw new Error("no manager started");
    return first.stateDir;
  }

  /** `swarm init` on `m`'s local socket (the library path the CLI takes); waits until it serves. */
  async init(
    m: ManagerProc = this.managers[0] as ManagerProc,
    extra: Record<string, unknown> = {},
  ): Promise<JoinResponse__Output> {
    const key = await generateKeyPair();
    const csr = await createCsr(key);
    const local = new ManagerClient(
      [`unix://${localManagerSocket(m.stateDir)}`],
      grpc.credentials.createInsecure(),
    );
    this.clients.push(local);
    const res = await local.call<JoinResponse__Output>((c, o, cb) =>
      c.cluster.Init(
        {
          hostname: m.name,
          advertiseAddr: "127.0.0.1",
          underlayAddrs: ["127.0.0.1/8"],
          csr,
          ...extra,
        },
        o,
        cb,
      ),
    );
    this.save(m.stateDir, res, {
      keyPem: key.privateKeyPem,
      chainPem: res.certificate,
      trustPem: res.trustBundle,
    });
    await this.serving(m);
    return res;
  }

  private save(stateDir: string, res: JoinResponse__Output, files: NodeTlsFiles): void {
    writeNodeTls(stateDir, files);
    writeCredentials(stateDir, {
      clusterId: res.clusterId,
      nodeId: res.nodeId,
      role: res.role === "manager" ? "manager" : "worker",
      managers: res.managers,
      joinedAt: new Date().toISOString(),
    });
  }

  /** Waits until `m` answers over mutual TLS. */
  async serving(m: ManagerProc): Promise<void> {
    const client = this.client([m.address]);
    await eventually(
      async () => {
        await client.call((c, o, cb) => c.cluster.Inspect({}, o, cb));
        return true;
      },
      90_000,
      `manager ${m.name} to serve over TLS`,
    );
  }

  /** The current join token of `role`. */
  async token(role: "worker" | "manager"): Promise<string> {
    return (await this.client().call<{ token: string }>((c, o, cb) => c.cluster.JoinToken({ role }, o, cb)))
      .token;
  }

  /** A synthetic node joins through `via` (the real join flow). */
  async joinNode(
    hostname: string,
    role: "worker" | "manager",
    advertiseAddr = "127.0.0.1",
    via?: ManagerProc,
  ): Promise<JoinedNode> {
    const target = via ?? this.servingManagers()[0];
    if (target === undefined) throw new Error("no serving manager");
    const { response, files } = await joinFlow({
      token: await this.token(role),
      address: target.address,
      hostname,
      advertiseAddr,
      underlayAddrs: [],
    });
    const tls = new TlsSource({
      trustPem: files.trustPem,
      identity: { keyPem: files.keyPem, chainPem: files.chainPem },
    });
    return { response, files, tls };
  }

  /** Manager `m` joins with the manager token and opens its TLS listener. */
  async joinManager(m: ManagerProc): Promise<JoinedNode> {
    const joined = await this.joinNode(m.name, "manager");
    this.save(m.stateDir, joined.response, joined.files);
    this.served.add(m);
    await this.serving(m);
    return joined;
  }

  private readonly served = new Set<ManagerProc>();

  private servingManagers(): ManagerProc[] {
    return this.managers.filter((m, i) => i === 0 || this.served.has(m));
  }

  /**
   * The store as the managers see it (secrets opened with the first manager's KEK, read
   * from its KEK file): what a test may read of sealed records, an authorized path.
   */
  openedKv(callTimeoutMs = 2000): SealedKv {
    const vault = new Vault();
    const disk = readKekFile(this.adminStateDir);
    if (disk.kind !== "clear") throw new Error("the first manager has no KEK file in clear");
    vault.unlock(disk.kek);
    return new SealedKv(new EtcdKv({ endpoints: this.endpoints, callTimeoutMs }), vault);
  }

  async killManager(m: ManagerProc, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await killProc(m.proc, signal);
  }

  /** A client with the admin identity (the first manager's node certificate). */
  client(addresses: string[] = this.servingManagers().map((m) => m.address)): ManagerClient {
    const c = new ManagerClient(addresses, nodeCredentials(this.adminStateDir));
    this.clients.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all([...this.procs].map((p) => killProc(p, "SIGKILL")));
    if (this.madeDir !== undefined) rmSync(this.madeDir, { recursive: true, force: true });
  }
}

async function killProc(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
  p.kill(signal);
  await Promise.race([exited, sleep(5000)]);
}

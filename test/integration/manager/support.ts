/**
 * Real etcd and real manager processes on loopback for the manager's integration tests:
 * unique ports (asked from the kernel) and a temporary data dir per run, and a `Fixture`
 * that stops every process it started and removes its files — call `cleanup()` in
 * `after`, it is safe after a failure half-way through.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { ManagerClient } from "../../../cli/manager-client.js";
import { EtcdKv } from "../../../manager/store/index.js";
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
  proc: ChildProcess;
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

  /** A manager process on loopback; resolves when it answers gRPC. */
  async startManager(name: string, endpoints = this.endpoints, extra: string[] = []): Promise<ManagerProc> {
    const address = `127.0.0.1:${await freePort()}`;
    const proc = this.spawnLogged(
      `manager-${name}`,
      process.execPath,
      [
        CLI_MAIN,
        "manager",
        `--node-name=${name}`,
        `--listen=${address}`,
        `--etcd=${endpoints.join(",")}`,
        ...extra,
      ],
      { SWARMNET_LOG_LEVEL: "info" },
    );
    const m = { name, address, proc };
    this.managers.push(m);
    const client = this.client([address]);
    await eventually(
      async () => {
        try {
          await client.call((c, o, cb) => c.cluster.Inspect({}, o, cb));
          return true;
        } catch (err) {
          // Answering "not initialised" means it serves.
          return isSwarmnetError(err, ErrorCode.NotFound);
        }
      },
      20_000,
      `manager ${name} to serve`,
    );
    return m;
  }

  async killManager(m: ManagerProc, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await killProc(m.proc, signal);
  }

  client(addresses: string[] = this.managers.map((m) => m.address)): ManagerClient {
    const c = new ManagerClient(addresses);
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

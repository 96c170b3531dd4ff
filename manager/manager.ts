/**
 * One manager process: stateless gRPC services in front of the store, composed here.
 *
 *   start:  open the local socket (`<state dir>/manager.sock`, root only) → connect to
 *           etcd (retrying until it answers) → bootstrap, in the background:
 *     uninitialised         no cluster in etcd: wait for `swarm init` on the local socket
 *                           (it makes the KEK, the CA and this node's certificate)
 *     waiting-certificate   a cluster, but this node has no manager certificate yet in its
 *                           state dir (`swarm join` with the manager token writes it)
 *     locked                the KEK file is wrapped (autolock): wait for `swarm unlock`
 *     joining               no KEK file: fetch the KEK from a running manager over mutual
 *                           TLS (Cluster.ManagerKek, manager certificates only), keep it
 *     serving               take a lease and register `managers/<node>` on it → mirror the
 *                           intent → serve agents' streams → open the TLS listener (the
 *                           node's certificate; the CA record's trust bundle) →
 *                           campaign for leadership (leader jobs follow the election)
 *   stop:   the reverse; agents' streams end with UNAVAILABLE so they move to another
 *           manager at once, and the lease is revoked so this manager disappears from
 *           `node ls` / the seed lists immediately instead of after its TTL.
 *
 * Secrets in etcd are sealed by the KEK (`SealedKv`, manager/keys/); while it has none,
 * this manager reads and writes no secret and serves nothing but the local socket. Its
 * KEK file follows the cluster's autolock setting and unlock key (kek-file.ts).
 *
 * If the lease is lost (etcd unreachable longer than its TTL) the manager takes a new
 * one and re-registers itself and every session it serves, so nodes it still talks to
 * turn ready again without reconnecting.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { RealClock, type Clock } from "../common/clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { ManagerPool } from "../common/manager-pool.js";
import { watchNodeTls, type NodeTlsFiles } from "../common/pki/node-files.js";
import { clientCredentials, TlsSource } from "../common/pki/tls.js";
import { nodeCertInfo } from "../common/pki/cert-info.js";
import {
  CaRotationJob,
  caDigest,
  CertificateAuthority,
  ClusterService,
  NodeService,
  TASK_HISTORY,
  type InitInput,
  type JoinResult,
} from "./cluster/index.js";
import type { ManagerConfig } from "./config.js";
import { Dispatcher } from "./dispatcher/dispatcher.js";
import { EventLog } from "./events/event-log.js";
import { IntentView } from "./dispatcher/intent-view.js";
import {
  CompactionJob,
  EtcdElection,
  LeaderJobs,
  SoleElection,
  type LeaderElection,
} from "./election/index.js";
import { bindLocalSocket } from "../common/local-socket.js";
import { bindTls, createServer, type ManagerServices } from "./grpc/server.js";
import { KeyManager, KeyRotationJob } from "./keys/index.js";
import { readKekFile, unwrapKek, writeKekFile } from "./keys/kek-file.js";
import { SealedKv } from "./keys/sealed-kv.js";
import { newKek, Vault } from "./keys/vault.js";
import { AttachmentService, NetworkService } from "./networks/index.js";
import { applyTaskStatus, SchedulerJob, ServiceControl } from "./services/index.js";
import { newId } from "./cluster/ids.js";
import { EtcdKv } from "./store/etcd-kv.js";
import { keys } from "./store/keys.js";
import type { Kv, KvLease } from "./store/kv.js";
import { decode, type CaRecord, type ClusterRecord, type ManagerRecord } from "./store/records.js";
import { Store } from "./store/store.js";

/** Pause between attempts to reach etcd at start and to re-take a lost lease. */
const ETCD_RETRY_MS = 500;
/** How often bootstrap looks again for a cluster, a certificate or a peer's KEK. */
const BOOTSTRAP_POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type ManagerPhase =
  "stopped" | "connecting" | "uninitialised" | "waiting-certificate" | "locked" | "joining" | "serving";

export interface ManagerDeps {
  /** The store; etcd at `config.etcd` when absent. */
  kv?: Kv;
  /** The election; etcd's when the store is etcd, otherwise this manager always leads. */
  election?: LeaderElection;
  clock?: Clock;
  log: Logger;
}

function etcdTls(config: ManagerConfig): { ca: string; cert: string; key: string } | undefined {
  const files = [config.etcdCa, config.etcdCert, config.etcdKey];
  if (files.every((f) => f === undefined)) return undefined;
  if (files.some((f) => f === undefined)) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      "manager: give all of --etcd-ca, --etcd-cert and --etcd-key",
    );
  }
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch (err) {
      throw new SwarmnetError(ErrorCode.InvalidConfig, `manager: cannot read ${f}`, { cause: err });
    }
  };
  return {
    ca: read(config.etcdCa as string),
    cert: read(config.etcdCert as string),
    key: read(config.etcdKey as string),
  };
}

export class Manager {
  readonly store: Store;
  readonly vault = new Vault();
  readonly ca: CertificateAuthority;
  readonly networks: NetworkService;
  readonly attachments: AttachmentService;
  readonly services: ServiceControl;
  readonly scheduler: SchedulerJob;
  readonly cluster: ClusterService;
  readonly keys: KeyManager;
  readonly keyRotation: KeyRotationJob;
  readonly nodes: NodeService;
  readonly view: IntentView;
  readonly dispatcher: Dispatcher;
  readonly election: LeaderElection;
  readonly jobs: LeaderJobs;
  /** What happened, derived from the mirror (`swarmnet events`, the live page). */
  readonly events: EventLog;
  /** The store as etcd holds it: sealed values stay sealed (existence checks, peers). */
  private readonly raw: Kv;
  private readonly kv: Kv;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** The node's certificate files (identity + the node's trust bundle): client to peers. */
  private readonly nodeTls = new TlsSource();
  /** The TLS listener's: the node's identity, the CA record's trust bundle. */
  private readonly serverTls = new TlsSource();
  private nodeFiles: NodeTlsFiles | undefined;
  private certWatch: { stop(): void } | undefined;
  private localServer: grpc.Server | undefined;
  private tlsServer: grpc.Server | undefined;
  private offMirror: (() => void) | undefined;
  private lease: KvLease | undefined;
  private running = false;
  private boundAddress = "";
  private digest = "";
  private kekFileState = "";
  private wake: () => void = () => {};
  phase: ManagerPhase = "stopped";

  constructor(
    readonly config: ManagerConfig,
    deps: ManagerDeps,
  ) {
    this.log = deps.log;
    this.clock = deps.clock ?? new RealClock();
    const raw =
      deps.kv ??
      new EtcdKv({ endpoints: config.etcd, callTimeoutMs: config.etcdCallTimeoutMs, tls: etcdTls(config) });
    this.raw = raw;
    this.kv = new SealedKv(raw, this.vault);
    this.store = new Store(this.kv);
    this.election =
      deps.election ??
      (raw instanceof EtcdKv
        ? new EtcdElection(
            raw.etcd,
            config.nodeName,
            config.electionTtlSeconds,
            config.electionRetryMs,
            this.log.child({ component: "election" }),
            (what, fn) => raw.call(what, fn),
          )
        : new SoleElection(config.nodeName));
    this.ca = new CertificateAuthority(this.store);
    this.networks = new NetworkService(this.store);
    this.cluster = new ClusterService(this.store, () => new Date(), this.ca);
    this.keys = new KeyManager(this.store);
    this.nodes = new NodeService(this.store, () => this.election.leader());
    this.view = new IntentView(this.kv, config.changeLogBatches, this.log.child({ component: "intent" }));
    this.attachments = new AttachmentService(this.store, (id) => this.view.node(id));
    this.services = new ServiceControl(this.store);
    this.dispatcher = new Dispatcher(
      this.store,
      this.view,
      () => this.lease?.id ?? "0",
      {
        managerName: config.nodeName,
        heartbeatPeriodMs: config.heartbeatPeriodMs,
        heartbeatGrace: config.heartbeatGrace,
        resumeWaitMs: 2_000,
      },
      this.clock,
      this.log.child({ component: "dispatcher" }),
    );
    this.events = new EventLog(this.view.reader);
    this.jobs = new LeaderJobs(this.election, this.log.child({ component: "leader" }));
    this.jobs.add(
      new CompactionJob(
        this.kv,
        this.clock,
        { intervalMs: config.compactionIntervalMs, keepRevisions: config.compactionKeepRevisions },
        this.log.child({ component: "compaction" }),
      ),
    );
    this.scheduler = new SchedulerJob(
      this.store,
      this.view.reader,
      this.clock,
      {
        nodeDownGraceMs: config.nodeDownGraceMs,
        restartDelayMs: config.taskRestartDelayMs,
        // Until `swarm update --task-history-limit` sets the cluster's own.
        historyLimit: TASK_HISTORY.default,
        tickMs: config.schedulerTickMs,
        // Coalesces the burst of watch events one change makes into one pass.
        debounceMs: 5,
      },
      { newId, now: () => new Date() },
      this.log.child({ component: "scheduler" }),
    );
    this.jobs.add(this.scheduler);
    this.keyRotation = new KeyRotationJob(
      this.keys,
      this.view.reader,
      this.clock,
      () => new Date(),
      { retryMs: config.keyRotationRetryMs },
      this.log.child({ component: "keys" }),
    );
    this.jobs.add(this.keyRotation);
    this.jobs.add(new CaRotationJob(this.ca, this.view.reader, this.log.child({ component: "ca" })));
  }

  /** The service of a task, from the mirror (a status report that did not say). */
  private taskService(taskId: string): string | undefined {
    const e = this.view.reader.entriesUnder(keys.tasksPrefix).find((x) => x.key.endsWith(`/${taskId}`));
    return e?.key.slice(keys.tasksPrefix.length).split("/")[0];
  }

  /** host:port agents and the CLI dial. */
  get address(): string {
    return this.config.advertiseAddr ?? (this.boundAddress || this.config.listen);
  }

  /** The local socket `swarm init` and `swarm unlock` use. */
  get socketPath(): string {
    return join(this.config.stateDir, "manager.sock");
  }

  private grpcServices(): ManagerServices {
    return {
      cluster: this.cluster,
      ca: this.ca,
      keys: this.keys,
      nodes: this.nodes,
      networks: this.networks,
      attachments: this.attachments,
      services: this.services,
      taskStatus: (nodeId, updates) =>
        applyTaskStatus(this.store, nodeId, updates, (id) => this.taskService(id)),
      dispatcher: this.dispatcher,
      leader: () => this.election.leader(),
      events: this.events,
      init: (input) => this.init(input),
      unlock: (key) => this.unlock(key),
      exportKek: () => this.vault.exportKek(),
      trustDigest: () => this.digest,
      nodeRole: (id) => this.view.node(id)?.role,
      auth: {
        clusterId: () => {
          const e = this.view.reader.entry(keys.cluster);
          return e === undefined ? undefined : decode<ClusterRecord>(e.key, e.value).id;
        },
        node: async (id) => this.view.node(id) ?? (await this.store.getNode(id)),
      },
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.phase = "connecting";
    this.localServer = createServer(
      this.grpcServices(),
      "local",
      this.log.child({ component: "grpc-local" }),
      this.config.keepaliveTimeoutMs,
    );
    // The state dir may not exist yet on a fresh machine (the agent creates its own too):
    // root's alone, as the key and KEK files in it are.
    mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    await bindLocalSocket(this.localServer, this.socketPath);
    this.certWatch = watchNodeTls(this.config.stateDir, this.nodeTls, this.config.certPollMs, (files) => {
      this.nodeFiles = files;
      if (files !== undefined) this.serverTls.setIdentity({ keyPem: files.keyPem, chainPem: files.chainPem });
      this.wake();
    });
    await this.untilEtcd(() => this.raw.get(keys.cluster).then(() => undefined));
    void this.bootstrap().catch((err: unknown) => {
      if (this.running) this.log.error({ err: errorMessage(err) }, "manager bootstrap failed");
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async rawCluster(): Promise<string | undefined> {
    return (await this.raw.get(keys.cluster)).entry?.value;
  }

  /** This node's certificate, when it is a manager's. */
  private managerCertificate(): boolean {
    const f = this.nodeFiles;
    if (f === undefined) return false;
    try {
      return nodeCertInfo(f.chainPem).role === "manager";
    } catch {
      return false;
    }
  }

  private async bootstrap(): Promise<void> {
    while (this.running && (await this.untilEtcd(() => this.rawCluster())) === undefined) {
      this.phase = "uninitialised";
      await this.pause(1_000);
    }
    while (this.running && !this.managerCertificate()) {
      this.phase = "waiting-certificate";
      await this.pause(BOOTSTRAP_POLL_MS);
    }
    if (!this.running) return;
    if (!this.vault.unlocked) await this.obtainKek();
    if (!this.running) return;
    await this.serve();
  }

  /** The KEK from the file (clear), the person (`swarm unlock`), or a peer manager. */
  private async obtainKek(): Promise<void> {
    const sealedCluster = (await this.rawCluster()) ?? "";
    const disk = readKekFile(this.config.stateDir);
    if (disk.kind === "clear" && Vault.opens(disk.kek, keys.cluster, sealedCluster)) {
      this.vault.unlock(disk.kek);
      return;
    }
    if (disk.kind === "wrapped") {
      this.phase = "locked";
      this.log.warn("manager is locked (autolock): run 'swarmnet swarm unlock' on this node");
      await this.vault.whenUnlocked();
      return;
    }
    this.phase = "joining";
    while (this.running && !this.vault.unlocked) {
      try {
        const kek = await this.kekFromPeers();
        if (!Vault.opens(kek, keys.cluster, sealedCluster)) {
          throw new SwarmnetError(
            ErrorCode.Internal,
            "a peer's key-encryption key does not open the cluster record",
          );
        }
        this.vault.unlock(kek);
      } catch (err) {
        this.log.info({ err: errorMessage(err) }, "waiting for a manager to share the key-encryption key");
        await sleep(1_000);
      }
    }
  }

  private async kekFromPeers(): Promise<Buffer> {
    const { entries } = await this.raw.list(keys.managersPrefix);
    const peers = entries
      .map((e) => decode<ManagerRecord>(e.key, e.value))
      .filter((m) => m.nodeName !== this.config.nodeName)
      .map((m) => m.address);
    const pool = new ManagerPool({
      addresses: () => peers,
      credentials: clientCredentials(this.nodeTls, { withIdentity: true }),
      callTimeoutMs: 5_000,
    });
    try {
      const r = await pool.call<{ kek: Buffer }>((c, o, cb) => c.cluster.ManagerKek({}, o, cb));
      return Buffer.from(r.kek);
    } finally {
      pool.close();
    }
  }

  /** `swarm init` (local socket): a new KEK seals the new cluster's secrets. */
  private async init(input: InitInput): Promise<JoinResult> {
    if ((await this.rawCluster()) !== undefined || this.vault.unlocked) {
      throw new SwarmnetError(
        ErrorCode.AlreadyExists,
        "this cluster is already initialised (leave it with 'swarmnet swarm leave' or join it with a token)",
      );
    }
    const kek = newKek();
    this.vault.unlock(kek);
    let result: JoinResult;
    try {
      result = await this.cluster.init(input);
    } catch (err) {
      this.vault.lock();
      throw err;
    }
    writeKekFile(this.config.stateDir, kek, input.autolock === true ? result.unlockKey : undefined);
    this.kekFileState = input.autolock === true ? result.unlockKey : "clear";
    this.wake();
    return result;
  }

  /** `swarm unlock` (local socket). */
  private async unlock(unlockKey: string): Promise<void> {
    if (this.vault.unlocked) throw new SwarmnetError(ErrorCode.Conflict, "this manager is not locked");
    const disk = readKekFile(this.config.stateDir);
    if (disk.kind !== "wrapped") throw new SwarmnetError(ErrorCode.Conflict, "this manager is not locked");
    const kek = unwrapKek(disk.wrapped, unlockKey);
    if (!Vault.opens(kek, keys.cluster, (await this.rawCluster()) ?? "")) {
      throw new SwarmnetError(
        ErrorCode.Unauthenticated,
        "invalid unlock key: it does not unlock this cluster",
      );
    }
    this.kekFileState = unlockKey;
    this.vault.unlock(kek);
    this.log.info("manager unlocked");
  }

  private async serve(): Promise<void> {
    await this.untilEtcd(() => this.takeLease());
    await this.untilEtcd(() => this.view.start());
    this.events.start();
    this.store.readThrough(this.view.reader);
    this.followMirror();
    this.dispatcher.start();
    this.tlsServer = createServer(
      this.grpcServices(),
      "tls",
      this.log.child({ component: "grpc" }),
      this.config.keepaliveTimeoutMs,
    );
    const port = await bindTls(
      this.tlsServer,
      this.config.listen,
      this.serverTls,
      this.config.tlsHandshakeTimeoutMs,
    );
    this.boundAddress = `${this.config.listen.slice(0, this.config.listen.lastIndexOf(":"))}:${port}`;
    this.jobs.attach();
    this.election.start();
    this.phase = "serving";
    this.log.info({ address: this.address }, "manager serving");
  }

  /** The CA record sets the listener's trust; the cluster record the KEK file's form. */
  private followMirror(): void {
    const apply = () => {
      const ca = this.view.reader.entry(keys.ca);
      if (ca !== undefined) {
        const record = decode<CaRecord>(ca.key, ca.value);
        this.serverTls.setTrust(record.trustBundle);
        this.digest = caDigest(record);
      }
      const c = this.view.reader.entry(keys.cluster);
      if (c !== undefined) this.keepKekFile(decode<ClusterRecord>(c.key, c.value));
    };
    apply();
    this.offMirror = this.view.reader.subscribe((change) => {
      if (change.events.some((e) => e.key === keys.ca || e.key === keys.cluster)) apply();
    });
  }

  private keepKekFile(cluster: ClusterRecord): void {
    const want = cluster.autolock === true && cluster.unlockKey !== undefined ? cluster.unlockKey : "clear";
    if (want === this.kekFileState) return;
    try {
      writeKekFile(this.config.stateDir, this.vault.exportKek(), want === "clear" ? undefined : want);
      this.kekFileState = want;
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, "cannot write the key-encryption key file");
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    this.phase = "stopped";
    this.certWatch?.stop();
    this.offMirror?.();
    this.jobs.detach();
    await this.election.stop();
    await this.dispatcher.stop();
    await Promise.all([this.tlsServer, this.localServer].map((s) => shutdown(s)));
    this.store.readThrough(undefined);
    this.events.stop();
    await this.view.stop();
    await this.lease?.revoke().catch(() => {});
    await this.kv.close();
    this.vault.lock();
  }

  private async takeLease(): Promise<void> {
    const lease = await this.kv.grantLease(this.config.leaseTtlSeconds);
    const record: ManagerRecord = {
      nodeName: this.config.nodeName,
      address: this.address,
      since: new Date().toISOString(),
    };
    await this.store.transact(async (tx) => tx.put(keys.manager(this.config.nodeName), record, lease.id));
    this.lease = lease;
    lease.onLost((err) => {
      if (!this.running || this.lease !== lease) return;
      this.log.warn({ err: err.message }, "manager lease lost; taking a new one");
      void this.untilEtcd(async () => {
        await this.takeLease();
        await this.dispatcher.reattach();
      });
    });
  }

  /** Retries `fn` while etcd is unreachable, as long as the manager is running. */
  private async untilEtcd<T>(fn: () => Promise<T>): Promise<T> {
    let warned = false;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const unreachable =
          err instanceof SwarmnetError &&
          (err.code === ErrorCode.Unavailable || err.code === ErrorCode.QuorumLost);
        if (!unreachable || !this.running) throw err;
        if (!warned) this.log.warn({ err: errorMessage(err) }, "etcd unreachable; retrying");
        warned = true;
        await sleep(ETCD_RETRY_MS);
      }
    }
  }
}

function shutdown(server: grpc.Server | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (server === undefined) return resolve();
    const force = setTimeout(() => server.forceShutdown(), 1_000);
    force.unref();
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

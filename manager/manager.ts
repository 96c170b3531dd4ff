/**
 * One manager process: stateless gRPC services in front of the store, composed here.
 *
 *   start: listen → connect to etcd (retrying until it answers) → take a lease and
 *          register `managers/<node>` on it → mirror the intent → serve agents' streams
 *          → campaign for leadership (leader jobs follow the election)
 *   stop:  the reverse; agents' streams end with UNAVAILABLE so they move to another
 *          manager at once, and the lease is revoked so this manager disappears from
 *          `node ls` / the seed lists immediately instead of after its TTL.
 *
 * If the lease is lost (etcd unreachable longer than its TTL) the manager takes a new
 * one and re-registers itself and every session it serves, so nodes it still talks to
 * turn ready again without reconnecting.
 */
import { RealClock, type Clock } from "../common/clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type * as grpc from "@grpc/grpc-js";
import { ClusterService, NodeService } from "./cluster/index.js";
import type { ManagerConfig } from "./config.js";
import { Dispatcher } from "./dispatcher/dispatcher.js";
import { IntentView } from "./dispatcher/intent-view.js";
import {
  CompactionJob,
  EtcdElection,
  LeaderJobs,
  SoleElection,
  type LeaderElection,
} from "./election/index.js";
import { bindServer, createServer } from "./grpc/server.js";
import { KeyManager, KeyRotationJob } from "./keys/index.js";
import { AttachmentService, NetworkService } from "./networks/index.js";
import { applyTaskStatus, SchedulerJob, ServiceControl } from "./services/index.js";
import { newId } from "./cluster/ids.js";
import { EtcdKv } from "./store/etcd-kv.js";
import { keys } from "./store/keys.js";
import type { Kv, KvLease } from "./store/kv.js";
import type { ManagerRecord } from "./store/records.js";
import { Store } from "./store/store.js";

/** Pause between attempts to reach etcd at start and to re-take a lost lease. */
const ETCD_RETRY_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ManagerDeps {
  /** The store; etcd at `config.etcd` when absent. */
  kv?: Kv;
  /** The election; etcd's when the store is etcd, otherwise this manager always leads. */
  election?: LeaderElection;
  clock?: Clock;
  log: Logger;
}

export class Manager {
  readonly store: Store;
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
  private readonly kv: Kv;
  private readonly clock: Clock;
  private readonly log: Logger;
  private server: grpc.Server | undefined;
  private lease: KvLease | undefined;
  private running = false;
  private boundAddress = "";

  constructor(
    readonly config: ManagerConfig,
    deps: ManagerDeps,
  ) {
    this.log = deps.log;
    this.clock = deps.clock ?? new RealClock();
    this.kv = deps.kv ?? new EtcdKv({ endpoints: config.etcd, callTimeoutMs: config.etcdCallTimeoutMs });
    this.store = new Store(this.kv);
    this.election =
      deps.election ??
      (this.kv instanceof EtcdKv
        ? new EtcdElection(
            this.kv.etcd,
            config.nodeName,
            config.electionTtlSeconds,
            config.electionRetryMs,
            this.log.child({ component: "election" }),
          )
        : new SoleElection(config.nodeName));
    this.networks = new NetworkService(this.store);
    this.cluster = new ClusterService(this.store);
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
        historyLimit: config.taskHistoryLimit,
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
  }

  /** The service of a task, from the mirror (a status report that did not say). */
  private taskService(taskId: string): string | undefined {
    const e = this.view.reader.entriesUnder(keys.tasksPrefix).find((x) => x.key.endsWith(`/${taskId}`));
    return e?.key.slice(keys.tasksPrefix.length).split("/")[0];
  }

  /** host:port agents and the CLI dial. */
  get address(): string {
    return this.config.advertiseAddr ?? this.boundAddress;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.server = createServer(
      {
        cluster: this.cluster,
        keys: this.keys,
        nodes: this.nodes,
        networks: this.networks,
        attachments: this.attachments,
        services: this.services,
        taskStatus: (nodeId, updates) =>
          applyTaskStatus(this.store, nodeId, updates, (id) => this.taskService(id)),
        dispatcher: this.dispatcher,
        leader: () => this.election.leader(),
      },
      this.log.child({ component: "grpc" }),
    );
    const port = await bindServer(this.server, this.config.listen);
    this.boundAddress = `${this.config.listen.slice(0, this.config.listen.lastIndexOf(":"))}:${port}`;
    await this.untilEtcd(() => this.takeLease());
    await this.untilEtcd(() => this.view.start());
    this.store.readThrough(this.view.reader);
    this.dispatcher.start();
    this.jobs.attach();
    this.election.start();
    this.log.info({ address: this.address }, "manager serving");
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.jobs.detach();
    await this.election.stop();
    await this.dispatcher.stop();
    await new Promise<void>((resolve) => {
      if (this.server === undefined) return resolve();
      const server = this.server;
      const force = setTimeout(() => server.forceShutdown(), 1_000);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.store.readThrough(undefined);
    await this.view.stop();
    await this.lease?.revoke().catch(() => {});
    await this.kv.close();
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
  private async untilEtcd(fn: () => Promise<void>): Promise<void> {
    let warned = false;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        const unreachable = err instanceof SwarmnetError && err.code === ErrorCode.Unavailable;
        if (!unreachable || !this.running) throw err;
        if (!warned) this.log.warn({ err: errorMessage(err) }, "etcd unreachable; retrying");
        warned = true;
        await sleep(ETCD_RETRY_MS);
      }
    }
  }
}

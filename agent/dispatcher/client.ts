/**
 * The agent's end of the dispatcher: one gRPC server stream to any manager.
 *
 *   connect   Session(hostname, advertise and underlay addresses, kernel capabilities,
 *             resume revision) to the current manager, over mutual TLS with the node's
 *             certificate (the managers take the node's id from it)
 *   receive   SessionResumed (the manager had every change after our revision) or a
 *             snapshot (diffed against what we hold), then one ChangeBatch per revision
 *   beat      Heartbeat every period the manager asked for; a heartbeat that fails
 *             ends the stream (the manager is gone or forgot us); each answer is emitted
 *             as `heartbeat` (the trust bundle's digest and the node's role: the
 *             certificate renewer acts on them, renewal.ts)
 *   fail-over on any stream error: the next manager of the list (the managers the
 *             stream itself reported, then the configured ones), at once; after a full
 *             round without success, backoff — both decided by the `ManagerPool`
 *             (common/manager-pool.ts), which the node's attachments client shares
 *   stop      an `Unauthenticated` answer (the node left or was removed) stops the
 *             client for good and emits `unauthenticated`
 *   report    `reportTaskStatus` sends what became of this node's tasks on the current
 *             session (ReportTaskStatus, authenticated like a heartbeat). Reports wait
 *             while there is no session and are sent after (re)connecting; a newer
 *             report of a task replaces one not yet sent. The promise resolves once a
 *             manager accepted it and rejects only if the client stops first.
 *
 * Consumers see a stream of `change` events that, applied in order, always give the
 * managers' intent — across reconnects, fail-overs and resyncs alike — plus `snapshot`
 * after each full snapshot (the state after its differences were emitted) and `ready`
 * once. This file must not import `manager/`: the wire is the contract.
 *
 * Each change batch leaves an `intent` mark in the trace ring (common/trace-ring.ts): the
 * revision, when it arrived and what it changed (kinds and ids), so a benchmark can pair
 * a manager's commit with its delivery here.
 */
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { RealClock, type Clock, type TimerHandle } from "../../common/clock.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../../common/errors.js";
import { fromGrpcError } from "../../common/grpc-errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { ManagerPool } from "../../common/manager-pool.js";
import { clientCredentials, type TlsSource } from "../../common/pki/tls.js";
import { trace, wallNow } from "../../common/trace-ring.js";
import type { HeartbeatResponse__Output } from "../../proto/generated/swarmnet/v1/HeartbeatResponse.js";
import type { SessionMessage__Output } from "../../proto/generated/swarmnet/v1/SessionMessage.js";
import type { KernelCapabilities } from "../probe.js";
import {
  applyBatch,
  diffSnapshot,
  emptyState,
  eventSubject,
  type IntentEvent,
  type IntentState,
} from "./intent.js";

export interface DispatcherClientOptions {
  /** Managers to try, host:port, in order. */
  managers: string[];
  /** The node's certificate and trust bundle (they may change: renewal). */
  tls: TlsSource;
  /** The cluster the managers must belong to (their certificates say). */
  clusterId?: string;
  hostname: string;
  advertiseAddr: string;
  /** "ip/len" of the node's underlay interfaces. */
  underlayAddrs: string[];
  capabilities: KernelCapabilities | undefined;
  clock?: Clock;
  log?: Logger;
  /** First pause after a full round of managers failed; doubles up to the max. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Deadline of one status report: a manager that does not answer in this is not there. */
const REPORT_TIMEOUT_MS = 5_000;
/**
 * Deadline of the pool's unary calls (attachments, renewal): an attach is one etcd
 * transaction; 5 s covers an etcd leader change without keeping `swarmnet run` waiting
 * on a dead manager for long.
 */
const ATTACH_TIMEOUT_MS = 5_000;

export const DISPATCHER_CLIENT_DEFAULTS = {
  // Fast enough that a manager restart is invisible, slow enough not to spin.
  initialBackoffMs: 100,
  // A cluster with every manager down costs at most one dial every 2 s per node.
  maxBackoffMs: 2_000,
};

export interface ConnectedEvent {
  manager: string;
  sessionId: string;
  /** True when the manager resumed after our revision (no snapshot needed). */
  resumed: boolean;
}

export interface DisconnectedEvent {
  manager: string;
  error: SwarmnetError;
}

/** What became of one of this node's tasks. */
export interface TaskStatusReport {
  taskId: string;
  /** The task's service id (TaskIntent.serviceId). */
  serviceId: string;
  /** running; failed (the process exited: give exitCode); shutdown (the sandbox is removed). */
  state: "running" | "failed" | "shutdown";
  exitCode?: number;
  /** Detail for `service ps` ("exit status 1", "cannot create sandbox: …"). */
  message?: string;
}

interface PendingReport {
  report: TaskStatusReport;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

export interface HeartbeatEvent {
  /** Digest of the cluster's trust bundle now. */
  trustDigest: string;
  /** The role the managers hold for this node now. */
  role: string;
}

export interface DispatcherClientEvents {
  heartbeat: [HeartbeatEvent];
  connected: [ConnectedEvent];
  disconnected: [DisconnectedEvent];
  change: [IntentEvent];
  snapshot: [IntentState];
  ready: [IntentState];
  unauthenticated: [SwarmnetError];
}

type Stream = grpc.ClientReadableStream<SessionMessage__Output>;

export class DispatcherClient extends EventEmitter<DispatcherClientEvents> {
  /** The intent as known now; read it, never change it. */
  readonly state: IntentState = emptyState();
  /** The managers: shared with the node's attachments client (attacher.ts). */
  readonly pool: ManagerPool;
  private readonly clock: Clock;
  private readonly log: Logger;
  private running = false;
  private isReady = false;
  private retryTimer: TimerHandle | undefined;
  private beatTimer: TimerHandle | undefined;
  private stream: Stream | undefined;
  private sessionId = "";
  private current = "";
  private readonly reports = new Map<string, PendingReport>();
  private sending = false;
  /** Count of sessions opened, for tests and metrics. */
  sessions = 0;

  constructor(private readonly opts: DispatcherClientOptions) {
    super();
    if (opts.managers.length === 0) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        "the dispatcher client needs at least one manager address",
      );
    }
    const configured = [...opts.managers];
    this.clock = opts.clock ?? new RealClock();
    this.log = opts.log ?? silentLogger();
    this.pool = new ManagerPool({
      // Those the stream reported, then the configured ones.
      addresses: () => [...this.state.managers, ...configured],
      credentials: clientCredentials(opts.tls, { clusterId: opts.clusterId, withIdentity: true }),
      initialBackoffMs: opts.initialBackoffMs ?? DISPATCHER_CLIENT_DEFAULTS.initialBackoffMs,
      maxBackoffMs: opts.maxBackoffMs ?? DISPATCHER_CLIENT_DEFAULTS.maxBackoffMs,
      callTimeoutMs: ATTACH_TIMEOUT_MS,
      channelOptions: {
        // Find a manager that vanished without closing the connection.
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.keepalive_permit_without_calls": 1,
      },
    });
  }

  /** The manager serving the stream now ("" while disconnected). */
  get manager(): string {
    return this.current;
  }

  get ready(): boolean {
    return this.isReady;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.retryTimer?.cancel();
    this.endStream();
    this.pool.close();
    this.failReports(new SwarmnetError(ErrorCode.Unavailable, "the dispatcher client stopped"));
  }

  /**
   * Tells the managers what became of one of this node's tasks (see the header). Safe to
   * call at any time, also while disconnected.
   */
  reportTaskStatus(report: TaskStatusReport): Promise<void> {
    if (!this.running) {
      return Promise.reject(new SwarmnetError(ErrorCode.Unavailable, "the dispatcher client is not running"));
    }
    return new Promise((resolve, reject) => {
      const pending = this.reports.get(report.taskId);
      if (pending === undefined) this.reports.set(report.taskId, { report, waiters: [{ resolve, reject }] });
      else {
        pending.report = report;
        pending.waiters.push({ resolve, reject });
      }
      this.flushReports();
    });
  }

  /** Sends every pending report in one call on the current session. */
  private flushReports(): void {
    const sessionId = this.sessionId;
    if (this.sending || this.reports.size === 0 || sessionId === "") return;
    const client = this.pool.clients(this.current).dispatcher;
    // Snapshot: reports and waiters that arrive while this call is in flight wait for the next.
    const batch = [...this.reports.values()].map((p) => ({ report: p.report, waiters: [...p.waiters] }));
    this.sending = true;
    client.ReportTaskStatus(
      {
        sessionId,
        updates: batch.map(({ report: r }) => ({
          taskId: r.taskId,
          serviceId: r.serviceId,
          state: r.state,
          exitCode: r.exitCode ?? 0,
          message: r.message ?? "",
        })),
      },
      { deadline: Date.now() + REPORT_TIMEOUT_MS },
      (err: grpc.ServiceError | null) => {
        this.sending = false;
        if (err === null) {
          for (const sent of batch) {
            const now = this.reports.get(sent.report.taskId);
            // A newer report of the task arrived meanwhile: it stays pending.
            if (now !== undefined && now.report === sent.report) this.reports.delete(sent.report.taskId);
            for (const w of sent.waiters) w.resolve();
            if (now !== undefined && now.report !== sent.report) {
              now.waiters = now.waiters.filter((w) => !sent.waiters.includes(w));
            }
          }
          this.flushReports();
          return;
        }
        const error = fromGrpcError(err, `manager ${this.current}`);
        if (error.code === ErrorCode.InvalidArgument) {
          // The managers refuse the report itself: retrying would not help.
          for (const sent of batch) {
            this.reports.delete(sent.report.taskId);
            for (const w of sent.waiters) w.reject(error);
          }
          return;
        }
        // Kept; sent again on the next heartbeat tick or session.
        this.log.info({ err: error.message }, "task status report not delivered; will retry");
      },
    );
  }

  private failReports(err: Error): void {
    for (const p of this.reports.values()) for (const w of p.waiters) w.reject(err);
    this.reports.clear();
  }

  /** Resolves with the state once the first snapshot (or resume) has been applied. */
  whenReady(): Promise<IntentState> {
    if (this.isReady) return Promise.resolve(this.state);
    return new Promise((resolve) => this.once("ready", resolve));
  }

  private connect(): void {
    if (!this.running) return;
    const address = this.pool.streamTarget() as string;
    const stream = this.pool.clients(address).dispatcher.Session({
      hostname: this.opts.hostname,
      advertiseAddr: this.opts.advertiseAddr,
      underlayAddrs: this.opts.underlayAddrs,
      capabilities: this.opts.capabilities ?? null,
      resumeRevision: String(this.state.revision),
    });
    this.stream = stream;
    stream.on("data", (m: SessionMessage__Output) => {
      if (this.stream === stream) this.onMessage(address, m);
    });
    stream.on("error", (err: grpc.ServiceError) => {
      if (this.stream !== stream) return;
      if (err.code === grpc.status.CANCELLED && !this.running) return;
      this.onStreamLost(address, fromGrpcError(err, `manager ${address}`));
    });
    stream.on("end", () => {
      if (this.stream !== stream) return;
      this.onStreamLost(
        address,
        new SwarmnetError(ErrorCode.Unavailable, `manager ${address} ended the stream`),
      );
    });
  }

  private onMessage(address: string, m: SessionMessage__Output): void {
    if (m.snapshot) {
      const snapshot = m.snapshot;
      this.opened(address, snapshot.sessionId, snapshot.heartbeatPeriodMs, false);
      const events = this.applying(address, () => diffSnapshot(this.state, snapshot));
      if (events === undefined) return;
      for (const e of events) this.emit("change", e);
      this.emit("snapshot", this.state);
      this.markReady();
    } else if (m.resumed) {
      this.opened(address, m.resumed.sessionId, m.resumed.heartbeatPeriodMs, true);
      this.markReady();
    } else if (m.changes) {
      const arrived = wallNow();
      const batch = m.changes;
      const events = this.applying(address, () => applyBatch(this.state, batch)) ?? [];
      const changes = events.map((e) => `${e.kind}:${eventSubject(e)}`).join(" ");
      trace.mark("intent", String(this.state.revision), { changes }, arrived);
      for (const e of events) this.emit("change", e);
    }
  }

  /**
   * Applies a message to the state. Intent this agent cannot take (a key ring that fails
   * validation) is not applied past its revision: the stream is dropped and the next
   * manager (or this one again) sends it afresh.
   */
  private applying(address: string, apply: () => IntentEvent[]): IntentEvent[] | undefined {
    try {
      return apply();
    } catch (err) {
      const error = new SwarmnetError(
        ErrorCode.MalformedMessage,
        `manager ${address} sent intent this agent cannot apply: ${errorMessage(err)}`,
        { cause: err, retryable: true },
      );
      this.log.error({ manager: address, err: error.message }, "dispatcher message refused");
      this.onStreamLost(address, error);
      return undefined;
    }
  }

  private opened(address: string, sessionId: string, periodMs: number, resumed: boolean): void {
    this.sessionId = sessionId;
    this.current = address;
    this.sessions++;
    this.pool.streamOpened(address);
    this.startHeartbeats(Math.max(50, periodMs));
    this.log.info({ manager: address, resumed, revision: this.state.revision }, "dispatcher session open");
    this.emit("connected", { manager: address, sessionId, resumed });
    this.flushReports();
  }

  private markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    this.emit("ready", this.state);
  }

  private startHeartbeats(periodMs: number): void {
    this.beatTimer?.cancel();
    const sessionId = this.sessionId;
    this.beatTimer = this.clock.setInterval(() => {
      if (this.sessionId !== sessionId) return;
      this.flushReports();
      this.pool
        .clients(this.current)
        .dispatcher.Heartbeat(
          { sessionId },
          { deadline: Date.now() + periodMs },
          (err: grpc.ServiceError | null, res?: HeartbeatResponse__Output) => {
            if (this.sessionId !== sessionId) return;
            if (err === null) {
              if (res !== undefined) this.emit("heartbeat", { trustDigest: res.trustDigest, role: res.role });
              return;
            }
            this.onStreamLost(this.current, fromGrpcError(err, `manager ${this.current}`));
          },
        );
    }, periodMs);
  }

  private onStreamLost(address: string, error: SwarmnetError): void {
    const wasOpen = this.current !== "";
    this.endStream();
    if (!this.running) return;
    this.emit("disconnected", { manager: address, error });
    if (error.code === ErrorCode.Unauthenticated) {
      this.log.warn({ manager: address, err: error.message }, "dispatcher credential rejected; stopping");
      this.running = false;
      this.pool.close();
      this.failReports(error);
      this.emit("unauthenticated", error);
      return;
    }
    this.log.info({ manager: address, err: error.message }, "dispatcher stream lost; failing over");
    const delay = this.pool.streamFailed(wasOpen);
    if (delay === 0) this.connect();
    else this.retryTimer = this.clock.setTimeout(() => this.connect(), delay);
  }

  private endStream(): void {
    this.beatTimer?.cancel();
    this.beatTimer = undefined;
    this.sessionId = "";
    this.current = "";
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }
}

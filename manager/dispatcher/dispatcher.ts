/**
 * The dispatcher, server side: one session per connected agent.
 *
 *   open:  check the node is a member (its id is the peer certificate's) → record what it reports (advertise and underlay
 *          addresses, kernel capabilities) → write `sessions/<node>/<session>` on this
 *          manager's lease (the node is now `ready`) → send SessionResumed + the missed
 *          batches if the agent's resume revision is still in the log, else a snapshot
 *          → forward every later change batch.
 *   keep:  the agent calls Heartbeat every `heartbeatPeriodMs`; a session silent for
 *          `heartbeatPeriodMs × heartbeatGrace` is ended (the agent reconnects if it
 *          is alive). If this manager dies, its lease expires and its session keys go
 *          with it, so the node turns `down` until its agent reaches another manager.
 *   end:   the stream closes (either side) → the session key is deleted; a node that
 *          left or was removed has its streams ended with `Unauthenticated`.
 *
 * The snapshot and the subscription to later batches happen in one synchronous step,
 * so no batch falls between them. Transport is behind `SessionSink` (the gRPC layer
 * implements it), so this file decides and the gRPC file only carries.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { Clock, TimerHandle } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import { newId } from "../cluster/ids.js";
import { checkMember } from "../cluster/node-auth.js";
import { keys } from "../store/keys.js";
import type { NodeRecord, SessionRecord } from "../store/records.js";
import type { NodeCapabilities } from "../../common/cluster-types.js";
import type { Store } from "../store/store.js";
import { forNode, type ChangeBatch, type IntentSnapshot, type IntentView } from "./intent-view.js";

export type SessionOutput =
  | { kind: "snapshot"; sessionId: string; heartbeatPeriodMs: number; snapshot: IntentSnapshot }
  | { kind: "resumed"; sessionId: string; heartbeatPeriodMs: number; revision: number }
  | { kind: "changes"; batch: ChangeBatch };

export interface SessionSink {
  write(message: SessionOutput): void;
  /** Ends the stream, with an error the agent will see, or cleanly. */
  end(err?: SwarmnetError): void;
  /** Called once when the stream is gone (client cancelled, network lost). */
  onClose(fn: () => void): void;
}

export interface SessionOpenRequest {
  nodeId: string;
  hostname: string;
  advertiseAddr: string;
  underlayAddrs: string[];
  capabilities: NodeCapabilities | undefined;
  resumeRevision: number;
}

export interface DispatcherOptions {
  /** This manager's node name, recorded in each session. */
  managerName: string;
  heartbeatPeriodMs: number;
  heartbeatGrace: number;
  /** How long a resuming session waits for this manager to catch up with its revision. */
  resumeWaitMs: number;
}

interface Session {
  id: string;
  nodeId: string;
  sink: SessionSink;
  lastHeartbeat: number;
  unsubscribe: () => void;
  closed: boolean;
}

export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  /** Session keys whose delete failed (etcd unreachable): retried on every sweep. */
  private readonly staleKeys = new Set<string>();
  private sweeper: TimerHandle | undefined;
  private offNode: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly view: IntentView,
    private readonly leaseId: () => string,
    private readonly opts: DispatcherOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = this.clock.setInterval(() => this.sweep(), this.opts.heartbeatPeriodMs);
    this.offNode = this.view.onNode((nodeId, node) => {
      if (node !== undefined && node.credentialHash !== "") return;
      for (const s of this.sessions.values()) {
        if (s.nodeId === nodeId) {
          this.close(
            s,
            new SwarmnetError(ErrorCode.Unauthenticated, "this node left or was removed from the cluster"),
          );
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.sweeper?.cancel();
    this.sweeper = undefined;
    this.offNode?.();
    const all = [...this.sessions.values()];
    for (const s of all)
      this.close(
        s,
        new SwarmnetError(ErrorCode.Unavailable, "manager is shutting down", { retryable: true }),
      );
    await Promise.all(all.map((s) => this.deleteSessionKey(s)));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async open(req: SessionOpenRequest, sink: SessionSink): Promise<void> {
    const node = checkMember(this.view.node(req.nodeId) ?? (await this.store.getNode(req.nodeId)));
    await this.recordNode(req);
    const session: Session = {
      id: newId(),
      nodeId: req.nodeId,
      sink,
      lastHeartbeat: this.clock.now(),
      unsubscribe: () => {},
      closed: false,
    };
    const record: SessionRecord = {
      nodeId: req.nodeId,
      sessionId: session.id,
      manager: this.opts.managerName,
      since: new Date().toISOString(),
    };
    await this.store.transact(async (tx) => {
      tx.put(keys.session(req.nodeId, session.id), record, this.leaseId());
    });
    this.sessions.set(session.id, session);
    sink.onClose(() => {
      if (session.closed) return;
      session.closed = true;
      this.forget(session);
    });
    if (req.resumeRevision > this.view.revision)
      await this.view.waitFor(req.resumeRevision, this.opts.resumeWaitMs);
    if (session.closed) return;
    // From here to the subscription: synchronous, so no batch is missed or doubled.
    const missed =
      req.resumeRevision > 0 ? this.view.batchesAfter(req.resumeRevision, req.nodeId) : undefined;
    const period = this.opts.heartbeatPeriodMs;
    if (missed !== undefined) {
      sink.write({
        kind: "resumed",
        sessionId: session.id,
        heartbeatPeriodMs: period,
        revision: req.resumeRevision,
      });
      for (const batch of missed) sink.write({ kind: "changes", batch });
    } else {
      sink.write({
        kind: "snapshot",
        sessionId: session.id,
        heartbeatPeriodMs: period,
        snapshot: this.view.snapshot(req.nodeId),
      });
    }
    session.unsubscribe = this.view.onBatch((batch) => {
      const mine = forNode(batch, req.nodeId);
      if (mine.changes.length > 0) sink.write({ kind: "changes", batch: mine });
    });
    this.log.info(
      {
        node: node.hostname,
        session: session.id,
        resumed: missed !== undefined,
        revision: this.view.revision,
      },
      "agent session opened",
    );
  }

  /**
   * Records a heartbeat; `NotFound` tells the agent to open a new session. Every call an
   * agent authenticates with its session (task status reports too) goes through here.
   */
  heartbeat(sessionId: string, nodeId: string): number {
    const s = this.sessions.get(sessionId);
    if (s === undefined || s.nodeId !== nodeId || s.closed) {
      throw new SwarmnetError(ErrorCode.NotFound, `no session ${sessionId} on this manager`);
    }
    s.lastHeartbeat = this.clock.now();
    return this.opts.heartbeatPeriodMs;
  }

  /** Re-writes every session key on a new lease (after this manager's lease was lost). */
  async reattach(): Promise<void> {
    const lease = this.leaseId();
    await this.store.transact(async (tx) => {
      for (const s of this.sessions.values()) {
        const record: SessionRecord = {
          nodeId: s.nodeId,
          sessionId: s.id,
          manager: this.opts.managerName,
          since: new Date().toISOString(),
        };
        tx.put(keys.session(s.nodeId, s.id), record, lease);
      }
    });
  }

  private sweep(): void {
    const limit = this.opts.heartbeatPeriodMs * this.opts.heartbeatGrace;
    const now = this.clock.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastHeartbeat > limit) {
        this.close(
          s,
          new SwarmnetError(ErrorCode.Unavailable, `no heartbeat for ${limit} ms`, { retryable: true }),
        );
      }
    }
    for (const key of this.staleKeys) {
      this.store
        .transact(async (tx) => tx.delete(key))
        .then(
          () => this.staleKeys.delete(key),
          () => {},
        );
    }
  }

  private close(s: Session, err: SwarmnetError): void {
    if (s.closed) return;
    s.closed = true;
    s.sink.end(err);
    this.forget(s);
  }

  private forget(s: Session): void {
    s.unsubscribe();
    this.sessions.delete(s.id);
    void this.deleteSessionKey(s);
  }

  private async deleteSessionKey(s: Session): Promise<void> {
    const key = keys.session(s.nodeId, s.id);
    try {
      await this.store.transact(async (tx) => tx.delete(key));
    } catch {
      this.staleKeys.add(key);
    }
  }

  /** Stores what the agent reports, when it differs from the node record. */
  private async recordNode(req: SessionOpenRequest): Promise<void> {
    await this.store.transact(async (tx) => {
      const node = await tx.get<NodeRecord>(keys.node(req.nodeId));
      if (node === undefined)
        throw new SwarmnetError(ErrorCode.Unauthenticated, "this node was removed from the cluster");
      const next: NodeRecord = {
        ...node,
        hostname: req.hostname || node.hostname,
        advertiseAddr: req.advertiseAddr || node.advertiseAddr,
        underlayAddrs: req.underlayAddrs.length > 0 ? req.underlayAddrs : node.underlayAddrs,
        capabilities: req.capabilities ?? node.capabilities,
      };
      const { updatedAt: _a, ...was } = node;
      const { updatedAt: _b, ...now } = next;
      if (JSON.stringify(was) === JSON.stringify(now)) return;
      tx.put(keys.node(node.id), { ...next, updatedAt: new Date().toISOString() });
    });
  }
}

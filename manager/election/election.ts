/**
 * Leader election among managers, for the jobs that must run exactly once in the
 * cluster (key rotation, scheduling, garbage collection, etcd compaction).
 *
 * `EtcdElection` uses etcd3's election (the etcd Go client's recipe): each manager
 * campaigns with its node name under a lease of `ttlSeconds`; the campaign with the
 * oldest key leads. A leader whose process dies stops renewing its lease, so within
 * `ttlSeconds` the next campaign in line is elected — that bounds the hand-over time.
 * A campaign that fails (its lease lost while etcd was unreachable) makes this manager
 * stop its leader jobs at once and campaign again after `retryMs`.
 *
 * `SoleElection` is for a manager alone on an in-memory store: always the leader.
 */
import type { Etcd3, Campaign } from "etcd3";
import type { Logger } from "../../common/logger.js";
import { ROOT } from "../store/keys.js";

export interface LeaderElection {
  start(): void;
  stop(): Promise<void>;
  readonly isLeader: boolean;
  /** Node name of the current leader, if there is one. */
  leader(): Promise<string | undefined>;
  /** Called with true when this manager becomes the leader, false when it stops being it. */
  onChange(fn: (isLeader: boolean) => void): () => void;
}

export const ELECTION_NAME = "leader";

abstract class ElectionBase {
  protected leading = false;
  private readonly listeners = new Set<(isLeader: boolean) => void>();

  get isLeader(): boolean {
    return this.leading;
  }

  onChange(fn: (isLeader: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  protected setLeading(value: boolean): void {
    if (this.leading === value) return;
    this.leading = value;
    for (const fn of [...this.listeners]) fn(value);
  }
}

export class EtcdElection extends ElectionBase implements LeaderElection {
  private campaign: Campaign | undefined;
  private running = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly nodeName: string,
    private readonly ttlSeconds: number,
    private readonly retryMs: number,
    private readonly log: Logger,
    /** The store's guarded, translated call (EtcdKv.call): quorum loss fails fast, in words. */
    private readonly call: <T>(what: string, fn: () => Promise<T>) => Promise<T> = (_w, fn) => fn(),
  ) {
    super();
  }

  private get election() {
    return this.client.namespace(ROOT).election(ELECTION_NAME, this.ttlSeconds);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.campaignNow();
  }

  private campaignNow(): void {
    if (!this.running) return;
    const campaign = this.election.campaign(this.nodeName);
    this.campaign = campaign;
    campaign.on("elected", () => {
      if (this.campaign !== campaign) return;
      this.log.info("elected leader");
      this.setLeading(true);
    });
    campaign.on("error", (err: Error) => {
      if (this.campaign !== campaign) return;
      this.log.warn({ err: err.message }, "campaign failed; campaigning again");
      this.campaign = undefined;
      this.setLeading(false);
      void campaign.resign().catch(() => {});
      this.retry = setTimeout(() => this.campaignNow(), this.retryMs);
      this.retry.unref();
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.retry !== undefined) clearTimeout(this.retry);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.setLeading(false);
    await campaign?.resign().catch(() => {});
  }

  async leader(): Promise<string | undefined> {
    return this.call("leader", () => this.election.leader());
  }
}

export class SoleElection extends ElectionBase implements LeaderElection {
  constructor(private readonly nodeName: string) {
    super();
  }

  start(): void {
    this.setLeading(true);
  }

  async stop(): Promise<void> {
    this.setLeading(false);
  }

  async leader(): Promise<string | undefined> {
    return this.leading ? this.nodeName : undefined;
  }
}

/**
 * The key manager: rotates the cluster's data-plane and gossip keys as ONE etcd
 * transaction (new key of each kind, the old ones beyond three deleted, the cluster's
 * Lamport clock and last-rotation time updated), so every agent's dispatcher stream
 * carries each rotation as one ring change per kind, in revision order — the order the
 * key schedule needs to lose nothing (see common/key-schedule.ts).
 *
 *   rotateIfDue   the leader job's call (key-rotation-job.ts): re-reads the cluster
 *                 record inside the transaction and does nothing unless the schedule says
 *                 the rotation is due. Two managers that both think they lead (a hand-over
 *                 within the lease TTL) cannot both rotate: the second transaction fails
 *                 its compare on the cluster record, runs again, and finds it not due.
 *   rotateNow     `swarmnet swarm rotate-keys`: rotates whatever the schedule says, and
 *                 restarts the interval from now (any manager may serve it).
 *
 * Fresh key bytes come from node:crypto (injectable for tests). Nothing here logs,
 * returns or throws key bytes: results carry tags only.
 */
import { randomBytes } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { KEY_SECRET_BYTES, type RotationStep } from "../../common/key-schedule.js";
import { notInitialised } from "../networks/network-service.js";
import { keys } from "../store/keys.js";
import type { ClusterRecord, EncryptionKeyRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { KeyKind } from "./key-records.js";
import { planRotation, rotationDue } from "./rotation-plan.js";

export interface RotationResult {
  /** Tag of the new keys (both kinds). */
  tag: number;
  /** When it happened (ISO time, as stored in the cluster record). */
  at: string;
  /** Revision of the transaction: agents see the new rings in the batch of this revision. */
  revision: number;
  steps: Record<KeyKind, RotationStep>;
}

export class KeyManager {
  constructor(
    private readonly store: Store,
    private readonly now: () => Date = () => new Date(),
    private readonly random: (bytes: number) => Uint8Array = randomBytes,
  ) {}

  /** Rotates now, whatever the schedule says; the next scheduled one is an interval later. */
  async rotateNow(): Promise<RotationResult> {
    const result = await this.rotate(false);
    if (result === undefined)
      throw new SwarmnetError(ErrorCode.Internal, "a forced key rotation did not rotate");
    return result;
  }

  /** Rotates if the cluster's schedule says it is due; undefined when it is not (yet). */
  rotateIfDue(): Promise<RotationResult | undefined> {
    return this.rotate(true);
  }

  private async rotate(onlyIfDue: boolean): Promise<RotationResult | undefined> {
    const { result, revision } = await this.store.transact(async (tx) => {
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      if (cluster === undefined) throw notInitialised();
      const now = this.now();
      if (onlyIfDue && !rotationDue(cluster, now.getTime())) return undefined;
      const at = now.toISOString();
      const stored = await tx.list<EncryptionKeyRecord>(keys.keysPrefix);
      const plan = planRotation(
        cluster,
        stored,
        () => Buffer.from(this.random(KEY_SECRET_BYTES)).toString("base64"),
        at,
      );
      for (const r of plan.put) tx.put(keys.key(r.kind, r.tag), r);
      for (const d of plan.delete) tx.delete(keys.key(d.kind, d.tag));
      const next: ClusterRecord = { ...cluster, keyClock: plan.keyClock, lastKeyRotationAt: at };
      tx.put(keys.cluster, next);
      return { tag: plan.keyClock, at, steps: plan.steps };
    });
    return result === undefined ? undefined : { ...result, revision };
  }
}

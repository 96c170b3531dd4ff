/**
 * The cluster CA, as Docker swarm's: made at `swarm init` (an ECDSA P-256 root), kept by
 * the managers in etcd (`/swarmnet/v1/ca`, sealed: the signing key is only ever plaintext
 * in a manager's memory), issuing every node certificate from the node's own CSR.
 *
 *   issue      join: the role the join token gave; renew: the role the managers hold for
 *              the node now (so `node promote|demote` takes effect at the next renewal).
 *              Validity is the cluster's `--cert-expiry` (90 days by default), never
 *              beyond the root's.
 *   rotate     `swarm ca --rotate`: a new root (generation + 1) and a cross-signed copy
 *              of it (the new root's name and key, signed by the old key). The trust
 *              bundle becomes {old, new}, so the join tokens' digest changes at once;
 *              the new key issues, and every chain it issues carries the cross-signed
 *              copy, so a node that still trusts only the old root verifies
 *              `leaf → cross-signed → old root`, and one that has the new bundle verifies
 *              `leaf → new root`. Nodes learn the bundle changed from their heartbeat
 *              answers (its digest) and renew; nobody's connection drops.
 *   finalize   the leader (`CaRotationJob`) sees every member's certificate issued by the
 *              new generation and drops the old root and the cross-signed copy: the
 *              bundle is {new}, the digest changes a second time, nodes fetch the bundle
 *              with one more renewal.
 *
 * Revocation is membership: a node that left or was removed has no member record, and
 * the authorization (manager/grpc/authorization.ts) refuses its certificate.
 */
import type { webcrypto } from "node:crypto";
import { ErrorCode, SwarmnetError, errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import {
  bundleDigest,
  nodeCertInfo,
  type CertIdentity,
  type PrivateKeyPem,
} from "../../common/pki/cert-info.js";
import type { LeaderJob } from "../election/leader-jobs.js";
import { notInitialised } from "../networks/network-service.js";
import { keys } from "../store/keys.js";
import type { CaRecord, ClusterRecord, NodeRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { PrefixMirror } from "../store/watch.js";
import { hashSecret } from "./ids.js";

/** The issuing library, loaded on use: the CLI imports this folder (resolveNode) and must not pay for it. */
const pki = () => import("../../common/pki/x509.js");

export const CA_DEFAULTS = {
  // Docker's root CA lives 20 years; rotation, not expiry, is how a root is replaced.
  rootValidityMs: 20 * 365 * 86_400_000,
  // Docker's --cert-expiry default (2160h).
  certExpiryMs: 90 * 86_400_000,
  // Docker's minimum is 1 h; one minute lets a test watch renewals happen.
  minCertExpiryMs: 60_000,
  // A year: certificates that outlive a year are not short-lived any more.
  maxCertExpiryMs: 10 * 365 * 86_400_000,
};

export function checkCertExpiry(ms: number): number {
  if (!Number.isFinite(ms) || ms < CA_DEFAULTS.minCertExpiryMs || ms > CA_DEFAULTS.maxCertExpiryMs) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `certificate expiry must be between 1m and ${CA_DEFAULTS.maxCertExpiryMs / 86_400_000} days, got ${ms} ms`,
    );
  }
  return ms;
}

export function certExpiryOf(cluster: ClusterRecord): number {
  return cluster.certExpiryMs ?? CA_DEFAULTS.certExpiryMs;
}

/** A new CA for cluster `clusterId` (generation 1). */
export async function newCaRecord(clusterId: string): Promise<CaRecord> {
  const root = await (await pki()).createRootCa(clusterId, 1, CA_DEFAULTS.rootValidityMs);
  return {
    generation: 1,
    signingCert: root.certPem,
    signingKey: root.key.privateKeyPem,
    trustBundle: root.certPem,
  };
}

/** The digest join tokens carry: of the trust bundle. */
export function caDigest(ca: CaRecord): string {
  return bundleDigest(ca.trustBundle);
}

export interface IssuedCertificate {
  chain: string;
  trustBundle: string;
  generation: number;
  /** Stored in the node record: sha256 of the certificate's serial. */
  credentialHash: string;
}

export interface CaStatusView {
  trustBundle: string;
  digest: string;
  rotating: boolean;
  nodes: number;
  nodesOnCurrent: number;
  rootCertificate: string;
}

/** Members (not left) among node records. */
function members(nodes: readonly NodeRecord[]): NodeRecord[] {
  return nodes.filter((n) => n.credentialHash !== "");
}

export class CertificateAuthority {
  private signer: { pem: string; key: webcrypto.CryptoKey } | undefined;

  constructor(private readonly store: Store) {}

  async current(): Promise<CaRecord> {
    const ca = await this.store.get<CaRecord>(keys.ca);
    if (ca === undefined) throw notInitialised();
    return ca;
  }

  private async signingKey(ca: CaRecord): Promise<webcrypto.CryptoKey> {
    if (this.signer?.pem !== ca.signingKey) {
      const key = await (await pki()).importPrivateKey(ca.signingKey as PrivateKeyPem);
      this.signer = { pem: ca.signingKey, key };
    }
    return this.signer.key;
  }

  /** Issues a node certificate for `csrPem` under the CA record `ca`. */
  async issue(
    ca: CaRecord,
    csrPem: string,
    identity: CertIdentity,
    validityMs: number,
  ): Promise<IssuedCertificate> {
    const leaf = await (
      await pki()
    ).issueNodeCertificate({
      csrPem,
      identity,
      issuerPem: ca.signingCert,
      issuerKey: await this.signingKey(ca),
      validityMs,
    });
    return {
      chain: leaf + (ca.crossSigned ?? ""),
      trustBundle: ca.trustBundle,
      generation: ca.generation,
      credentialHash: hashSecret(nodeCertInfo(leaf).serial),
    };
  }

  /**
   * A node renews its own certificate: a member gets one with the role the managers
   * hold for it; the node record notes the generation (rotation progress).
   */
  async renew(nodeId: string, csrPem: string): Promise<IssuedCertificate & { role: NodeRecord["role"] }> {
    const [cluster, ca, node] = await Promise.all([
      this.store.getCluster(),
      this.current(),
      this.store.getNode(nodeId),
    ]);
    if (cluster === undefined) throw notInitialised();
    if (node === undefined || node.credentialHash === "") {
      throw new SwarmnetError(ErrorCode.Unauthenticated, "this node is no longer part of the cluster");
    }
    const issued = await this.issue(
      ca,
      csrPem,
      { clusterId: cluster.id, nodeId, role: node.role },
      certExpiryOf(cluster),
    );
    await this.store.transact(async (tx) => {
      const now = await tx.get<NodeRecord>(keys.node(nodeId));
      if (now === undefined || now.credentialHash === "") {
        throw new SwarmnetError(ErrorCode.Unauthenticated, "this node is no longer part of the cluster");
      }
      tx.put(keys.node(nodeId), {
        ...now,
        certGeneration: issued.generation,
        credentialHash: issued.credentialHash,
      });
    });
    return { ...issued, role: node.role };
  }

  /** `swarm ca --rotate`: a new root, cross-signed by the current one (see the header). */
  async rotate(now: Date = new Date()): Promise<void> {
    const [cluster, ca] = await Promise.all([this.store.getCluster(), this.current()]);
    if (cluster === undefined) throw notInitialised();
    if (ca.crossSigned !== undefined) {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        "a CA rotation is already in progress: wait until every node has a certificate of the new root ('swarmnet swarm ca')",
      );
    }
    const generation = ca.generation + 1;
    const { createRootCa, crossSign } = await pki();
    const root = await createRootCa(cluster.id, generation, CA_DEFAULTS.rootValidityMs);
    const cross = await crossSign(root.certPem, ca.signingCert, await this.signingKey(ca));
    await this.store.transact(async (tx) => {
      const latest = await tx.get<CaRecord>(keys.ca);
      if (latest === undefined) throw notInitialised();
      if (latest.generation !== ca.generation) {
        throw new SwarmnetError(ErrorCode.Conflict, "the CA changed meanwhile: try again");
      }
      const next: CaRecord = {
        generation,
        signingCert: root.certPem,
        signingKey: root.key.privateKeyPem,
        trustBundle: latest.trustBundle + root.certPem,
        crossSigned: cross,
        rotationStartedAt: now.toISOString(),
      };
      tx.put(keys.ca, next);
    });
  }

  async status(): Promise<CaStatusView> {
    const [ca, nodes] = await Promise.all([this.current(), this.store.listNodes()]);
    const m = members(nodes);
    return {
      trustBundle: ca.trustBundle,
      digest: caDigest(ca),
      rotating: ca.crossSigned !== undefined,
      nodes: m.length,
      nodesOnCurrent: m.filter((n) => n.certGeneration === ca.generation).length,
      rootCertificate: ca.signingCert,
    };
  }

  /** Ends a rotation once every member holds a certificate of the new root; true if it did. */
  async finalizeIfDone(): Promise<boolean> {
    const { result } = await this.store.transact(async (tx) => {
      const ca = await tx.get<CaRecord>(keys.ca);
      if (ca === undefined || ca.crossSigned === undefined) return false;
      const nodes = members(await tx.list<NodeRecord>(keys.nodesPrefix));
      if (!nodes.every((n) => n.certGeneration === ca.generation)) return false;
      const done: CaRecord = {
        generation: ca.generation,
        signingCert: ca.signingCert,
        signingKey: ca.signingKey,
        trustBundle: ca.signingCert,
      };
      tx.put(keys.ca, done);
      return true;
    });
    return result;
  }
}

/**
 * The leader job that ends a CA rotation: after any change of the CA record or a node
 * record, it checks whether every member moved to the new root (a transaction that
 * re-checks, so a second leader in a hand-over cannot end it twice).
 */
export class CaRotationJob implements LeaderJob {
  readonly name = "ca-rotation";
  private unsubscribe: (() => void) | undefined;
  private busy = false;
  private again = false;

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly source: Pick<PrefixMirror, "subscribe">,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.unsubscribe !== undefined) return;
    this.unsubscribe = this.source.subscribe((change) => {
      if (change.events.some((e) => e.key === keys.ca || e.key.startsWith(keys.nodesPrefix)))
        void this.check();
    });
    void this.check();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private async check(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        if (this.unsubscribe === undefined) return;
        if (await this.ca.finalizeIfDone())
          this.log.info("CA rotation complete: every node has a certificate of the new root");
      } while (this.again);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, "CA rotation check failed; the next change retries it");
    } finally {
      this.busy = false;
    }
  }
}

/**
 * The node's certificate renews itself, as Docker's does: a new key pair and CSR made
 * here (the private key never leaves the node), sent over the node's current mutual-TLS
 * channel (Ca.RenewNodeCertificate), the answer written to the state dir
 * (common/pki/node-files.ts) and applied to the node's `TlsSource`. Nothing restarts:
 * connections already open keep their handshake (the dispatcher stream is never
 * dropped), the next handshake of any process of the node uses the new certificate.
 *
 *   when     at a random point between 50 % and 80 % of the certificate's life (so a
 *            cluster's nodes do not all renew at once), or at once when a heartbeat
 *            answer says the trust bundle changed (CA rotation) or the node's role did
 *            (promote/demote)
 *   failure  tried again after `retryMs`, doubling up to `maxRetryMs`
 */
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { ManagerPool } from "../../common/manager-pool.js";
import { writeNodeTls } from "../../common/pki/node-files.js";
import type { TlsSource } from "../../common/pki/tls.js";
import { bundleDigest, nodeCertInfo } from "../../common/pki/cert-info.js";
import type { NodeCertificateResponse__Output } from "../../proto/generated/swarmnet/v1/NodeCertificateResponse.js";
import type { DispatcherClient, HeartbeatEvent } from "./client.js";

export const RENEWAL_DEFAULTS = {
  // Docker renews between half and four fifths of the validity.
  earliestFraction: 0.5,
  latestFraction: 0.8,
  // A failed renewal (no manager) is retried soon; the certificate has time left.
  retryMs: 5_000,
  maxRetryMs: 60_000,
};

/** When a certificate valid from `notBefore` to `notAfter` renews, for a `random` in [0, 1). */
export function renewalTime(notBefore: number, notAfter: number, random: number): number {
  const d = RENEWAL_DEFAULTS;
  const fraction = d.earliestFraction + (d.latestFraction - d.earliestFraction) * random;
  return notBefore + (notAfter - notBefore) * fraction;
}

export interface RenewerOptions {
  stateDir: string;
  tls: TlsSource;
  pool: ManagerPool;
  dispatcher: DispatcherClient;
  log: Logger;
  random?: () => number;
}

export class CertificateRenewer {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  private retryMs = RENEWAL_DEFAULTS.retryMs;
  private readonly onBeat = (e: HeartbeatEvent) => this.heartbeat(e);
  /** The role in `chain` and the digest of `trust`, as last read. */
  private seen: { chain: string; role: string; trust: string; digest: string } | undefined;
  /** Renewals done, for tests and metrics. */
  renewals = 0;

  constructor(private readonly o: RenewerOptions) {}

  start(): void {
    this.o.dispatcher.on("heartbeat", this.onBeat);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.o.dispatcher.off("heartbeat", this.onBeat);
    clearTimeout(this.timer);
  }

  private heartbeat(e: HeartbeatEvent): void {
    const trust = this.o.tls.trustPem;
    const chain = this.o.tls.currentIdentity?.chainPem;
    if (trust === undefined || chain === undefined || this.busy) return;
    // Parsed once per certificate and bundle, not every beat (every 2 s: X.509 parsing
    // and hashing the bundle were a third of an idle agent's CPU, issue 16).
    if (this.seen?.chain !== chain)
      this.seen = { chain, role: nodeCertInfo(chain).role, trust: "", digest: "" };
    if (this.seen.trust !== trust) Object.assign(this.seen, { trust, digest: bundleDigest(trust) });
    const trustChanged = e.trustDigest !== "" && e.trustDigest !== this.seen.digest;
    const roleChanged = e.role !== "" && e.role !== this.seen.role;
    if (trustChanged || roleChanged) {
      this.o.log.info({ trustChanged, roleChanged }, "renewing the node certificate now");
      void this.renew();
    }
  }

  private schedule(delayMs?: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    let delay = delayMs;
    if (delay === undefined) {
      const chain = this.o.tls.currentIdentity?.chainPem;
      if (chain === undefined) return;
      const info = nodeCertInfo(chain);
      const at = renewalTime(
        info.notBefore.getTime(),
        info.notAfter.getTime(),
        (this.o.random ?? Math.random)(),
      );
      delay = at - Date.now();
    }
    // setTimeout holds at most ~24.8 days; a longer wait schedules again when it fires.
    const max = 2 ** 31 - 1;
    this.timer = setTimeout(
      () => (delay > max ? this.schedule(delay - max) : void this.renew()),
      Math.min(Math.max(0, delay), max),
    );
    this.timer.unref();
  }

  /** Renews now (once at a time); resolves when done or failed. */
  async renew(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      // Loaded on use: the CLI imports this folder and should not pay for the issuing library.
      const { createCsr, generateKeyPair } = await import("../../common/pki/x509.js");
      const key = await generateKeyPair();
      const csr = await createCsr(key);
      const res = await this.o.pool.call<NodeCertificateResponse__Output>((c, opts, cb) =>
        c.ca.RenewNodeCertificate({ csr }, opts, cb),
      );
      if (this.stopped) return;
      writeNodeTls(this.o.stateDir, {
        keyPem: key.privateKeyPem,
        chainPem: res.certificate,
        trustPem: res.trustBundle,
      });
      this.o.tls.setTrust(res.trustBundle);
      this.o.tls.setIdentity({ keyPem: key.privateKeyPem, chainPem: res.certificate });
      this.renewals++;
      this.retryMs = RENEWAL_DEFAULTS.retryMs;
      const info = nodeCertInfo(res.certificate);
      this.o.log.info({ role: info.role, notAfter: info.notAfter.toISOString() }, "node certificate renewed");
      this.schedule();
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, "certificate renewal failed; trying again");
      this.schedule(this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RENEWAL_DEFAULTS.maxRetryMs);
    } finally {
      this.busy = false;
    }
  }
}

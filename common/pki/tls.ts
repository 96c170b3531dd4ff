/**
 * Mutual TLS for every gRPC connection between swarmnet processes, over grpc-js's
 * certificate-provider credentials so a renewed certificate or a changed trust bundle
 * applies to the next handshake without restarting anything and without touching the
 * connections already open (a TLS session is checked once, at its handshake: a stream
 * that started under the old certificate keeps running).
 *
 *   TlsSource        one node's trust bundle (roots it accepts) and identity (its key and
 *                    certificate chain), fed from files (the node's state dir) or from
 *                    memory (the managers' CA record, tests); listeners see every change
 *   clientCredentials  channel credentials of a node: its identity when it has one, and a
 *                    server check that the peer is a *manager* of the expected cluster
 *                    (the certificates name no host: the pinned CA is what is trusted,
 *                    as in Docker swarm)
 *   serverCredentials  a manager's listener: the client certificate is requested and
 *                    verified against the trust bundle, but not required — `swarm join`
 *                    and the root CA download arrive without one; every other call is
 *                    refused by the authorization in manager/grpc/ unless the peer
 *                    presented a certificate that verified
 *                    (with Node's connection limits, TLS_LISTENER_LIMITS)
 *   peerIdentity     who a server call comes from: the node id, role and cluster of the
 *                    verified client certificate, or undefined
 *
 * The TLS server name is fixed (`swarm-manager`) so Node never sets an IP address as
 * SNI (RFC 6066 forbids it and Node warns on stderr).
 */
import * as grpc from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { identityFromSubject, type CertIdentity } from "./cert-info.js";

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type AuthContext = ReturnType<grpc.ServerUnaryCall<unknown, unknown>["getAuthContext"]>;

export const TLS_SERVER_NAME = "swarm-manager";

/** Channel options every client of the managers uses (with their own on top). */
export const TLS_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.ssl_target_name_override": TLS_SERVER_NAME,
};

export interface TlsIdentity {
  keyPem: string;
  /** The node certificate first, then intermediates (a cross-signed root during rotation). */
  chainPem: string;
}

export class TlsSource implements grpc.experimental.CertificateProvider {
  private trust: Buffer | undefined;
  /** `trust` as text, kept (read on every heartbeat). */
  private trustText: string | undefined;
  private identity: TlsIdentity | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(init: { trustPem?: string; identity?: TlsIdentity } = {}) {
    if (init.trustPem !== undefined) {
      this.trust = Buffer.from(init.trustPem);
      this.trustText = init.trustPem;
    }
    this.identity = init.identity;
  }

  get trustPem(): string | undefined {
    return this.trustText;
  }

  get currentIdentity(): TlsIdentity | undefined {
    return this.identity;
  }

  setTrust(pem: string): void {
    if (this.trustText === pem) return;
    this.trust = Buffer.from(pem);
    this.trustText = pem;
    const update = { caCertificate: this.trust };
    for (const l of this.caListeners) l(update);
  }

  setIdentity(identity: TlsIdentity): void {
    if (this.identity?.keyPem === identity.keyPem && this.identity.chainPem === identity.chainPem) return;
    this.identity = identity;
    const update = { certificate: Buffer.from(identity.chainPem), privateKey: Buffer.from(identity.keyPem) };
    for (const l of this.identityListeners) l(update);
  }

  // Listeners added get the current value on the next tick, as grpc-js's own providers
  // do: its server credentials register their own watcher only after adding these.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => {
      if (this.trust !== undefined && this.caListeners.has(listener)) listener({ caCertificate: this.trust });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => {
      const id = this.identity;
      if (id !== undefined && this.identityListeners.has(listener)) {
        listener({ certificate: Buffer.from(id.chainPem), privateKey: Buffer.from(id.keyPem) });
      }
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** Why a server certificate is not a manager of `clusterId`, or undefined when it is. */
export function managerCertProblem(cert: PeerCertificate, clusterId: string | undefined): string | undefined {
  const id = identityFromSubject(cert.subject ?? {});
  if (id === undefined) return "its certificate names no swarm node";
  if (id.role !== "manager") return `its certificate is a ${id.role}'s, not a manager's`;
  if (clusterId !== undefined && id.clusterId !== clusterId) {
    return `its certificate belongs to cluster ${id.clusterId}, not ${clusterId}`;
  }
  return undefined;
}

/**
 * Credentials of a client of the managers: the chain must lead to `source`'s trust
 * bundle and name a manager (of `clusterId` when given); the client presents `source`'s
 * identity when `withIdentity` (a node that has joined).
 */
export function clientCredentials(
  source: TlsSource,
  o: { clusterId?: string; withIdentity: boolean },
): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(
    source,
    o.withIdentity ? source : null,
    {
      checkServerIdentity: (_host, cert) => {
        const problem = managerCertProblem(cert, o.clusterId);
        return problem === undefined ? undefined : new Error(`the server is not a swarm manager: ${problem}`);
      },
    },
  );
}

/**
 * Credentials for a client that does not know the CA yet (`swarm join` before it pinned
 * the root): the channel is encrypted but nothing is verified, so only the public root
 * CA certificate may be asked over it, and it is checked against the token's digest.
 */
export function unverifiedCredentials(): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(null, null, null, {
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
}

/**
 * Node's own limits on the connections of a TLS listener, before any gRPC code sees them
 * (grpc-js has no option for these; they go to `http2.createSecureServer` with the
 * credentials' constructor options):
 *   handshakeTimeout        a connection that has not finished its TLS handshake is closed
 *                           (Node's default is 120 s: a silent or trickling peer held a
 *                           socket and a TLS state that long); the manager's config holds
 *                           it (`tlsHandshakeTimeoutMs`: clients on emulated CPUs need more)
 *   unknownProtocolTimeout  a TLS connection that did not negotiate h2 is closed
 *   maxSessionInvalidFrames / maxSessionRejectedStreams  a session sending that many bad
 *                           frames, or opening that many streams beyond the limit, is closed
 *                           (Node's defaults: 1000 and 100)
 */
export const TLS_LISTENER_LIMITS = {
  unknownProtocolTimeout: 5_000,
  maxSessionInvalidFrames: 10,
  maxSessionRejectedStreams: 10,
} as const;

/**
 * A manager's TLS listener: identity and trust from `source`, client certificates optional;
 * a connection still in its handshake after `handshakeTimeoutMs` is closed.
 */
export function serverCredentials(source: TlsSource, handshakeTimeoutMs: number): grpc.ServerCredentials {
  // The same provider for both roles: grpc-js's factory and constructor disagree on the
  // order of its two provider arguments.
  const creds = grpc.experimental.createCertificateProviderServerCredentials(source, source, false);
  // The one seam grpc-js offers for Node's server options (see TLS_LISTENER_LIMITS).
  const base = creds._getConstructorOptions.bind(creds);
  creds._getConstructorOptions = () => {
    const o = base();
    return o === null ? null : { ...o, ...TLS_LISTENER_LIMITS, handshakeTimeout: handshakeTimeoutMs };
  };
  return creds;
}

/** The verified client certificate's identity, or undefined (none, or it did not verify). */
export function peerIdentity(call: { getAuthContext(): AuthContext }): CertIdentity | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (cert === undefined) return undefined;
  return identityFromSubject(cert.subject ?? {});
}

/**
 * Reading certificates with Node's own `crypto` (no issuing library): who a node
 * certificate names, its validity, whether one certificate signed another, and the
 * digest of a trust bundle. Kept apart from x509.ts so the CLI, which reads the node's
 * certificate on every command, never loads the issuing library (a second or more of
 * start-up on a loaded machine); only `swarm init|join` and the managers' CA do.
 *
 * Names follow Docker swarm's: `O=<cluster id>, OU=swarm-manager|swarm-worker,
 * CN=<node id>`.
 */
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../errors.js";

export type NodeRole = "manager" | "worker";
/** Docker's OU values: the role as the certificate states it. */
export const ROLE_OU: Record<NodeRole, string> = { manager: "swarm-manager", worker: "swarm-worker" };

export type PrivateKeyPem = string & { readonly __privateKey: unique symbol };

/** Who a node certificate names. */
export interface CertIdentity {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
}

/** The PEM blocks of one label in `text`, in order. */
export function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----\\n?`, "g");
  return (text.match(re) ?? []).map((b) => (b.endsWith("\n") ? b : `${b}\n`));
}

export function der(pem: string, label: string): Buffer {
  const body = pem
    .replace(`-----BEGIN ${label}-----`, "")
    .replace(`-----END ${label}-----`, "")
    .replace(/\s+/g, "");
  return Buffer.from(body, "base64");
}

/** The identity a node certificate states (subject O / OU / CN), or undefined. */
export function identityFromSubject(subject: {
  O?: string | string[];
  OU?: string | string[];
  CN?: string | string[];
}): CertIdentity | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const clusterId = one(subject.O);
  const nodeId = one(subject.CN);
  const ou = one(subject.OU);
  const role = ou === ROLE_OU.manager ? "manager" : ou === ROLE_OU.worker ? "worker" : undefined;
  if (clusterId === undefined || nodeId === undefined || role === undefined) return undefined;
  return { clusterId, nodeId, role };
}

function subjectFields(subject: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of subject.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export interface CertInfo extends CertIdentity {
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** The issuer's name (which root, or which cross-signed root, signed it). */
  issuer: string;
}

/** Reads a node certificate (the first of a chain). Throws InvalidArgument when it is none. */
export function nodeCertInfo(certPem: string): CertInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "not a PEM certificate", { cause: err });
  }
  const identity = identityFromSubject(subjectFields(cert.subject));
  if (identity === undefined) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "the certificate names no swarm node (O, OU, CN)");
  }
  return {
    ...identity,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serial: cert.serialNumber,
    issuer: cert.issuer,
  };
}

/** True if `certPem` was signed by the key of `issuerPem`. */
export function signedBy(certPem: string, issuerPem: string): boolean {
  try {
    return new X509Certificate(certPem).verify(new X509Certificate(issuerPem).publicKey);
  } catch {
    return false;
  }
}

/** True if the certificate's public key is the key pair's (a node's key and its certificate). */
export function certMatchesKey(certPem: string, keyPem: PrivateKeyPem): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

const DIGEST_LENGTH = 50;

/**
 * The digest a join token carries: SHA-256 over the DER of every certificate of the trust
 * bundle, in order, as 50 base-36 characters (Docker's token length).
 */
export function bundleDigest(bundlePem: string): string {
  const h = createHash("sha256");
  for (const block of pemBlocks(bundlePem, "CERTIFICATE")) h.update(der(block, "CERTIFICATE"));
  return BigInt(`0x${h.digest("hex")}`)
    .toString(36)
    .padStart(DIGEST_LENGTH, "0")
    .slice(-DIGEST_LENGTH);
}

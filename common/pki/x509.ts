/**
 * X.509 for the cluster PKI: ECDSA P-256 key pairs, certificate requests, root CAs,
 * node certificates and cross-signed roots, over `@peculiar/x509` (Node's own `crypto`
 * verifies certificates but cannot issue them). Everything here is pure apart from
 * randomness: PEM in, PEM out; nothing touches a file or a socket.
 *
 * Reading certificates is cert-info.ts (Node's crypto only); this file is loaded only
 * where certificates are made. Names follow Docker swarm's, so a node certificate reads
 * the same:
 *   subject  O=<cluster id>, OU=swarm-manager | swarm-worker, CN=<node id>
 *   issuer   O=<cluster id>, CN=swarm-ca-<generation>    (a new root per `swarm ca --rotate`)
 * Node certificates carry both serverAuth and clientAuth: a manager's node certificate is
 * also its TLS server certificate, and every node presents its own as a client.
 *
 * Private keys are PKCS#8 PEM. They are created on the node that uses them (a CSR goes to
 * the CA, never the key) and are never logged: `PrivateKeyPem` is a branded string so a
 * key is not passed where a certificate is expected by accident.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../errors.js";
import { der, ROLE_OU, type CertIdentity, type PrivateKeyPem } from "./cert-info.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface KeyPair {
  privateKeyPem: PrivateKeyPem;
  /** The key as Web Crypto holds it, to sign CSRs and certificates in this process. */
  privateKey: webcrypto.CryptoKey;
  publicKey: webcrypto.CryptoKey;
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    privateKeyPem: toPem("PRIVATE KEY", pkcs8) as PrivateKeyPem,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
  };
}

/** Imports a PKCS#8 PEM key for signing (the CA key, kept sealed in etcd). */
export async function importPrivateKey(pem: PrivateKeyPem): Promise<webcrypto.CryptoKey> {
  try {
    return await webcrypto.subtle.importKey("pkcs8", der(pem, "PRIVATE KEY"), ALG, false, ["sign"]);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "not an ECDSA P-256 private key", { cause: err });
  }
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return b.toString("hex");
}

/** A CSR for `key`; the subject is decided by the CA, so it carries none of its own. */
export async function createCsr(key: KeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=swarm-node",
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: ALG,
  });
  return csr.toString("pem").trimEnd() + "\n";
}

export interface RootCa {
  certPem: string;
  key: KeyPair;
}

function caExtensions(publicKey: webcrypto.CryptoKey | x509.PublicKey): Promise<x509.Extension[]> {
  return Promise.all([
    new x509.BasicConstraintsExtension(true, 1, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    x509.SubjectKeyIdentifierExtension.create(publicKey as webcrypto.CryptoKey),
  ]);
}

export function rootName(clusterId: string, generation: number): string {
  return `O=${clusterId}, CN=swarm-ca-${generation}`;
}

/** A self-signed root for cluster `clusterId` (or named `name`), valid `validityMs` from now. */
export async function createRootCa(
  clusterId: string,
  generation: number,
  validityMs: number,
  name = rootName(clusterId, generation),
): Promise<RootCa> {
  const key = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validityMs),
    keys: { privateKey: key.privateKey, publicKey: key.publicKey },
    signingAlgorithm: ALG,
    extensions: await caExtensions(key.publicKey),
  });
  return { certPem: cert.toString("pem").trimEnd() + "\n", key };
}

/**
 * The new root's name and public key signed by the old root's key: a node that trusts
 * only the old root verifies `leaf → cross-signed → old root` for a leaf the new key
 * issued. Valid as long as the shorter-lived of the two roots.
 */
export async function crossSign(
  newRootPem: string,
  oldRootPem: string,
  oldKey: webcrypto.CryptoKey,
): Promise<string> {
  const fresh = new x509.X509Certificate(newRootPem);
  const old = new x509.X509Certificate(oldRootPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: fresh.subject,
    issuer: old.subject,
    notBefore: fresh.notBefore,
    notAfter: fresh.notAfter < old.notAfter ? fresh.notAfter : old.notAfter,
    publicKey: fresh.publicKey,
    signingKey: oldKey,
    signingAlgorithm: ALG,
    extensions: [
      ...(await caExtensions(fresh.publicKey)),
      await x509.AuthorityKeyIdentifierExtension.create(old.publicKey),
    ],
  });
  return cert.toString("pem").trimEnd() + "\n";
}

export interface IssueInput {
  csrPem: string;
  identity: CertIdentity;
  /** The issuing root's certificate and signing key. */
  issuerPem: string;
  issuerKey: webcrypto.CryptoKey;
  validityMs: number;
}

/**
 * Checks a CSR (well-formed, signed by the key it carries, ECDSA P-256) and issues the
 * node certificate the CA decided on. Throws InvalidArgument naming what is wrong.
 */
export async function issueNodeCertificate(input: IssueInput): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(input.csrPem);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "invalid certificate request: not a PEM CSR", {
      cause: err,
    });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") {
    throw invalid("invalid certificate request: the key must be ECDSA P-256");
  }
  if (!(await csr.verify())) throw invalid("invalid certificate request: its signature does not verify");
  const { clusterId, nodeId, role } = input.identity;
  return issueLeaf({
    subject: `O=${clusterId}, OU=${ROLE_OU[role]}, CN=${nodeId}`,
    publicKey: csr.publicKey,
    issuerPem: input.issuerPem,
    issuerKey: input.issuerKey,
    validityMs: input.validityMs,
  });
}

/**
 * A leaf certificate (server and client use) for `publicKey`, signed by the issuer,
 * valid from a minute ago (clocks differ a little) for `validityMs`, never beyond the
 * issuer.
 */
async function issueLeaf(o: {
  subject: string;
  publicKey: x509.PublicKey | webcrypto.CryptoKey;
  issuerPem: string;
  issuerKey: webcrypto.CryptoKey;
  validityMs: number;
  extensions?: x509.Extension[];
}): Promise<string> {
  const issuer = new x509.X509Certificate(o.issuerPem);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: o.subject,
    issuer: issuer.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(Math.min(now + o.validityMs, issuer.notAfter.getTime())),
    publicKey: o.publicKey as webcrypto.CryptoKey,
    signingKey: o.issuerKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
      ...(o.extensions ?? []),
    ],
  });
  return cert.toString("pem").trimEnd() + "\n";
}

export interface ServiceCertInput {
  commonName: string;
  ips: string[];
  dnsNames: string[];
  issuerPem: string;
  issuerKey: webcrypto.CryptoKey;
  validityMs: number;
}

/** A server+client certificate with IP/DNS names (etcd members and their clients). */
export async function issueServiceCertificate(
  input: ServiceCertInput,
): Promise<{ certPem: string; key: KeyPair }> {
  const key = await generateKeyPair();
  const names = [
    ...input.ips.map((value) => ({ type: "ip" as const, value })),
    ...input.dnsNames.map((value) => ({ type: "dns" as const, value })),
  ];
  const certPem = await issueLeaf({
    subject: `CN=${input.commonName}`,
    publicKey: key.publicKey,
    issuerPem: input.issuerPem,
    issuerKey: input.issuerKey,
    validityMs: input.validityMs,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { certPem, key };
}

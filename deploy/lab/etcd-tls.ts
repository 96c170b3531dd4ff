/**
 * etcd in the lab is closed: its members talk to each other and to the managers only
 * over mutual TLS, and nothing on the underlay answers a request without a client
 * certificate (`--client-cert-auth`, `--peer-client-cert-auth`).
 *
 * Decision: etcd's certificates come from an *etcd CA* that `lab up` makes, not from the
 * cluster CA. etcd has to run before `swarm init` (the managers keep the cluster, and so
 * the cluster CA, in it), and etcd 3.4 reads its trusted CA once at start — a cluster CA
 * would mean restarting etcd after init. This is how etcd is deployed elsewhere too (an
 * operator's etcd PKI, as kubeadm's): the etcd CA's key is used for these certificates
 * and then dropped, never written anywhere.
 *
 * Per manager node, in `<node dir>/etcd-tls/` (the directory 0700, the key 0600):
 *   ca.crt     the etcd CA
 *   node.crt   this member's certificate: server and client, IP SANs = the node's
 *              underlay address and 127.0.0.1, DNS SAN `etcd` (the managers' TLS server
 *              name, manager/store/etcd-kv.ts) — used by the member for its client and
 *              peer listeners, and by the node's manager as its etcd client certificate
 *   node.key
 * Worker nodes get none: they never talk to etcd.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ETCD_TLS_SERVER_NAME } from "../../manager/config.js";
import { etcdEndpoints, managers, type LabLayout, type LabNode } from "./layout.js";

/** Ten years: a lab lives for minutes, but a long-lived demo lab should not expire. */
const VALIDITY_MS = 10 * 365 * 86_400_000;

export interface EtcdTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export function etcdTlsFiles(nodeDir: string): EtcdTlsFiles {
  const dir = join(nodeDir, "etcd-tls");
  return { ca: join(dir, "ca.crt"), cert: join(dir, "node.crt"), key: join(dir, "node.key") };
}

/** Makes the etcd CA and every manager node's certificate (see the header). */
export async function writeEtcdTls(layout: LabLayout, nodeDir: (n: LabNode) => string): Promise<void> {
  // Loaded on use: the CLI (which imports the lab) should not pay for the issuing library.
  const { createRootCa, issueServiceCertificate } = await import("../../common/pki/x509.js");
  const ca = await createRootCa(
    `etcd-${layout.name}`,
    1,
    VALIDITY_MS,
    `O=swarmnet lab ${layout.name}, CN=etcd-ca`,
  );
  for (const n of managers(layout)) {
    const files = etcdTlsFiles(nodeDir(n));
    const { certPem, key } = await issueServiceCertificate({
      commonName: n.name,
      ips: [n.address, "127.0.0.1"],
      dnsNames: [ETCD_TLS_SERVER_NAME],
      issuerPem: ca.certPem,
      issuerKey: ca.key.privateKey,
      validityMs: VALIDITY_MS,
    });
    const dir = join(nodeDir(n), "etcd-tls");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(files.ca, ca.certPem, { mode: 0o644 });
    writeFileSync(files.cert, certPem, { mode: 0o644 });
    writeFileSync(files.key, key.privateKeyPem, { mode: 0o600 });
    chmodSync(files.key, 0o600);
  }
}

/** etcd's TLS flags for member `n`. */
export function etcdTlsFlags(files: EtcdTlsFiles): string[] {
  return [
    `--cert-file=${files.cert}`,
    `--key-file=${files.key}`,
    `--trusted-ca-file=${files.ca}`,
    "--client-cert-auth",
    `--peer-cert-file=${files.cert}`,
    `--peer-key-file=${files.key}`,
    `--peer-trusted-ca-file=${files.ca}`,
    "--peer-client-cert-auth",
  ];
}

/**
 * How a client reaches the lab's etcd from manager node `node`: every member's client
 * URL, the node's certificate files, and the same as etcdctl's environment. The one
 * place the lab (its manager flags, its health wait, `lab exec`) and tools reading etcd
 * beside the managers (tests, chaos invariants) get it, so none spells endpoints or
 * certificate paths itself.
 */
export interface EtcdAccess {
  endpoints: string[];
  tls: EtcdTlsFiles;
  /** `etcdctl` needs no flag with this environment (ETCDCTL_ENDPOINTS, _CACERT, _CERT, _KEY). */
  etcdctlEnv: Record<string, string>;
}

export function etcdAccess(layout: LabLayout, nodeDir: string): EtcdAccess {
  const endpoints = etcdEndpoints(layout);
  const tls = etcdTlsFiles(nodeDir);
  return {
    endpoints,
    tls,
    etcdctlEnv: {
      ETCDCTL_API: "3",
      ETCDCTL_ENDPOINTS: endpoints.join(","),
      ETCDCTL_CACERT: tls.ca,
      ETCDCTL_CERT: tls.cert,
      ETCDCTL_KEY: tls.key,
    },
  };
}

/**
 * Where a node keeps its TLS material: `<state dir>/certificates/`, as Docker keeps
 * `/var/lib/docker/swarm/certificates/`.
 *
 *   swarm-node.pem     the node's private key, then its certificate chain — one file,
 *                      mode 0600 (root only), written atomically (temp file + rename),
 *                      so a reader never sees a new key with an old certificate
 *   swarm-root-ca.crt  the trust bundle: the roots this node accepts (two during a CA
 *                      rotation), public
 *
 * Every process of the node reads them from there: the agent (dispatcher stream,
 * attachments, renewal, which rewrites them), the manager on a manager node (its TLS
 * listener presents the node's certificate) and the CLI (`swarmnet …` on the node is
 * authorized as the node). The state dir comes from `--state-dir`, the `stateDir` of the
 * file in `$SWARMNET_CONFIG` (the lab writes one per node), or /var/lib/swarmnet.
 * Long-lived processes poll the files (`watchNodeTls`): a renewal shows up within a poll
 * period without a restart, on any filesystem.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../errors.js";
import { TlsSource } from "./tls.js";
import { pemBlocks, type PrivateKeyPem } from "./cert-info.js";

export const CERT_DIR = "certificates";
export const NODE_FILE = "swarm-node.pem";
export const ROOT_CA_FILE = "swarm-root-ca.crt";

export interface NodeTlsFiles {
  keyPem: PrivateKeyPem;
  chainPem: string;
  trustPem: string;
}

export function certDir(stateDir: string): string {
  return join(stateDir, CERT_DIR);
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

export function writeNodeTls(stateDir: string, files: NodeTlsFiles): void {
  const dir = certDir(stateDir);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    writeAtomic(join(dir, ROOT_CA_FILE), files.trustPem, 0o644);
    writeAtomic(join(dir, NODE_FILE), files.keyPem + files.chainPem, 0o600);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.Internal, `cannot write the node's certificates in ${dir}`, {
      cause: err,
    });
  }
}

/** The node's TLS files, or undefined when it has none (not joined) or they are unreadable. */
export function readNodeTls(stateDir: string): NodeTlsFiles | undefined {
  const dir = certDir(stateDir);
  try {
    const node = readFileSync(join(dir, NODE_FILE), "utf8");
    const trustPem = readFileSync(join(dir, ROOT_CA_FILE), "utf8");
    const [keyPem] = pemBlocks(node, "PRIVATE KEY");
    const chain = pemBlocks(node, "CERTIFICATE");
    if (keyPem === undefined || chain.length === 0 || pemBlocks(trustPem, "CERTIFICATE").length === 0) {
      return undefined;
    }
    return { keyPem: keyPem as PrivateKeyPem, chainPem: chain.join(""), trustPem };
  } catch {
    return undefined;
  }
}

export function removeNodeTls(stateDir: string): void {
  rmSync(certDir(stateDir), { recursive: true, force: true });
}

/** A TLS source holding the node's files now, or undefined when there are none. */
export function nodeTlsSource(stateDir: string): TlsSource | undefined {
  const files = readNodeTls(stateDir);
  if (files === undefined) return undefined;
  return new TlsSource({
    trustPem: files.trustPem,
    identity: { keyPem: files.keyPem, chainPem: files.chainPem },
  });
}

/** A file's mtime and size ("-" when it is missing): what a poll compares before reading it. */
export function fileStamp(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? "-" : `${st.mtimeMs}:${st.size}`;
}

/** The node's TLS files' stamps (fileStamp). */
export function nodeTlsStamp(stateDir: string): string {
  return [NODE_FILE, ROOT_CA_FILE].map((f) => fileStamp(join(certDir(stateDir), f))).join("|");
}

/**
 * Keeps `source` equal to the node's files, checking every `pollMs` (a changed mtime or
 * size re-reads them); `onChange` runs after each change that was applied.
 */
export function watchNodeTls(
  stateDir: string,
  source: TlsSource,
  pollMs: number,
  onChange: (files: NodeTlsFiles | undefined) => void = () => {},
): { stop(): void } {
  let last = "";
  const check = () => {
    let now: string;
    try {
      now = nodeTlsStamp(stateDir);
    } catch {
      return; // raced with a rename: next poll
    }
    if (now === last) return;
    last = now;
    const files = readNodeTls(stateDir);
    if (files !== undefined) {
      source.setTrust(files.trustPem);
      source.setIdentity({ keyPem: files.keyPem, chainPem: files.chainPem });
    }
    onChange(files);
  };
  check();
  const timer = setInterval(check, pollMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

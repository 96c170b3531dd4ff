/**
 * How the CLI reaches the managers: which addresses, with which credentials, and one
 * gRPC call with fail-over (the `ManagerPool` of common/manager-pool.ts).
 *
 * Addresses, first found wins: `--manager` flags, `$SWARMNET_MANAGERS` (comma-separated),
 * the `managers` field of the JSON file in `$SWARMNET_CONFIG` (the lab writes one per
 * node), the managers this node learnt at join (`cluster.json`), else 127.0.0.1:2377.
 * A manager on this node (same host as the node's advertise address) is tried first, as
 * `docker swarm init` acts on the local node.
 *
 * Credentials: the CLI acts as the node it runs on — the node's certificate from its
 * state dir (`--state-dir`, `$SWARMNET_STATE_DIR`, the config file's `stateDir`, else
 * /var/lib/swarmnet; see common/pki/node-files.ts), so `swarmnet …` on a manager node
 * may run control commands and on a worker node is told it is not a manager. A node without a certificate (not
 * joined) or with an expired one is refused here, before anything is sent. The only
 * calls without a certificate are `swarm init` and `swarm unlock` (the manager's local
 * socket, `withLocalManager`) and `swarm join` (join-flow.ts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { readConfigFile } from "../common/config.js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { ManagerPool, type ManagerCall, type ManagerClients } from "../common/manager-pool.js";
import { certDir, nodeTlsSource } from "../common/pki/node-files.js";
import { clientCredentials } from "../common/pki/tls.js";
import { nodeCertInfo } from "../common/pki/cert-info.js";
import { AGENT_DEFAULTS } from "../agent/config.js";
import { readCredentials } from "../agent/dispatcher/credentials.js";

/** Docker's swarm port on this host. */
export const DEFAULT_MANAGER = "127.0.0.1:2377";
export const MANAGER_PORT = 2377;

/** The per-node config file the lab writes ($SWARMNET_CONFIG), or {} when there is none. */
export function nodeConfigFile(): Record<string, unknown> {
  const file = process.env["SWARMNET_CONFIG"];
  return file === undefined || file === "" ? {} : readConfigFile(file);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** This node's state dir: the flag, `$SWARMNET_STATE_DIR`, the config file's `stateDir`, or the default. */
export function nodeStateDir(flag?: string): string {
  const env = process.env["SWARMNET_STATE_DIR"];
  if (flag !== undefined) return flag;
  if (env !== undefined && env !== "") return env;
  const fromFile = nodeConfigFile()["stateDir"];
  return typeof fromFile === "string" && fromFile !== "" ? fromFile : AGENT_DEFAULTS.stateDir;
}

export function managerAddresses(flags: readonly string[] | undefined, stateDir?: string): string[] {
  const fromFlags = (flags ?? []).flatMap((f) => f.split(",")).filter((a) => a !== "");
  if (fromFlags.length > 0) return fromFlags;
  const env = (process.env["SWARMNET_MANAGERS"] ?? "").split(",").filter((a) => a !== "");
  if (env.length > 0) return env;
  const cfg = nodeConfigFile();
  const fromFile = strings(cfg["managers"]);
  const known = fromFile.length > 0 ? fromFile : (readCredentials(nodeStateDir(stateDir))?.managers ?? []);
  if (known.length === 0) return [DEFAULT_MANAGER];
  const local = typeof cfg["advertiseAddr"] === "string" ? cfg["advertiseAddr"] : "";
  return [
    ...known.filter((a) => a.startsWith(`${local}:`)),
    ...known.filter((a) => !a.startsWith(`${local}:`)),
  ];
}

/**
 * `host` → `host:2377`; `host:port` as it is. A port outside 1-65535, or an address that
 * is no host[:port], is refused here in one line, before gRPC turns it into Node's
 * socket error text.
 */
export function withDefaultPort(address: string): string {
  const m = /^([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::([^:]*))?$/.exec(address);
  if (m === null) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `invalid manager address ${JSON.stringify(address)}: expected host[:port]`,
    );
  }
  const port = m[2];
  if (port === undefined) return `${address}:${MANAGER_PORT}`;
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `invalid manager address ${JSON.stringify(address)}: port ${JSON.stringify(port)} is not a number from 1 to 65535`,
    );
  }
  return address;
}

/** The node's mutual-TLS channel credentials, or a clear refusal. */
export function nodeCredentials(stateDir: string): grpc.ChannelCredentials {
  const source = nodeTlsSource(stateDir);
  const chain = source?.currentIdentity?.chainPem;
  if (source === undefined || chain === undefined) {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      `this node is not part of a swarm: it has no certificate in ${certDir(stateDir)} (run 'swarmnet swarm init', or join one with 'swarmnet swarm join')`,
    );
  }
  const info = nodeCertInfo(chain);
  if (info.notAfter.getTime() <= Date.now()) {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      `this node's certificate expired at ${info.notAfter.toISOString()} (its agent renews it while it runs): join the swarm again`,
    );
  }
  return clientCredentials(source, { clusterId: info.clusterId, withIdentity: true });
}

/** The CLI's face of the pool: `call` with fail-over over the resolved managers. */
export class ManagerClient {
  private readonly pool: ManagerPool;

  constructor(
    readonly addresses: readonly string[],
    credentials: grpc.ChannelCredentials,
  ) {
    if (addresses.length === 0)
      throw new SwarmnetError(ErrorCode.InvalidArgument, "no manager address given");
    this.pool = new ManagerPool({ addresses: () => addresses, credentials });
  }

  /** Calls one RPC on the first manager that can serve it. */
  call<T>(fn: ManagerCall<T>): Promise<T> {
    return this.pool.call(fn);
  }

  /** The service clients of one manager (streams choose their manager themselves). */
  clientsFor(address: string): ManagerClients {
    return this.pool.clients(address);
  }

  close(): void {
    this.pool.close();
  }
}

/** Runs `fn` with a client for the resolved managers, as this node, and closes it afterwards. */
export async function withManagers<T>(
  flags: readonly string[] | undefined,
  fn: (client: ManagerClient) => Promise<T>,
  stateDirFlag?: string,
): Promise<T> {
  const stateDir = nodeStateDir(stateDirFlag);
  const client = new ManagerClient(managerAddresses(flags, stateDir), nodeCredentials(stateDir));
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** The local socket of the manager that shares this node's state dir. */
export function localManagerSocket(stateDir: string): string {
  return join(stateDir, "manager.sock");
}

/** Runs `fn` against the manager on this node, over its local (root-only) socket. */
export async function withLocalManager<T>(
  stateDir: string,
  fn: (client: ManagerClient) => Promise<T>,
): Promise<T> {
  const socket = localManagerSocket(stateDir);
  if (!existsSync(socket)) {
    throw new SwarmnetError(
      ErrorCode.Unavailable,
      `cannot reach the manager of this node: no socket at ${socket} (is 'swarmnet manager' running here?)`,
      { retryable: true },
    );
  }
  const client = new ManagerClient([`unix://${socket}`], grpc.credentials.createInsecure());
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** commander helper: a repeatable option that also accepts comma-separated values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

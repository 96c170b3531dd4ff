/**
 * How the CLI reaches the managers: which addresses, and one gRPC call with fail-over.
 *
 * Addresses, first found wins: `--manager` flags, `$SWARMNET_MANAGERS` (comma-separated),
 * the `managers` field of the JSON file in `$SWARMNET_CONFIG` (the lab writes one per
 * node), else 127.0.0.1:4242. A manager on this node (same host as the node's advertise
 * address) is tried first, as `docker swarm init` acts on the local node.
 *
 * A call goes to the first manager that answers: a manager that cannot be reached, or
 * that cannot reach etcd, is skipped for the next. Any other error is the answer.
 * gRPC errors become SwarmnetErrors in `fromGrpcError` (common/grpc-errors.ts), the one
 * boundary on this side.
 */
import * as grpc from "@grpc/grpc-js";
import { readConfigFile } from "../common/config.js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { fromGrpcError } from "../common/grpc-errors.js";
import { grpcPackageDefinition } from "../common/proto.js";
import type { ProtoGrpcType } from "../proto/generated/swarmnet.js";
import type { ClusterClient } from "../proto/generated/swarmnet/v1/Cluster.js";
import type { NetworksClient } from "../proto/generated/swarmnet/v1/Networks.js";
import type { NodesClient } from "../proto/generated/swarmnet/v1/Nodes.js";
import type { ServicesClient } from "../proto/generated/swarmnet/v1/Services.js";

export const DEFAULT_MANAGER = "127.0.0.1:4242";
/** A CLI call that takes longer than this is reported, not waited for. */
const CALL_TIMEOUT_MS = 15_000;

/** The per-node config file the lab writes ($SWARMNET_CONFIG), or {} when there is none. */
export function nodeConfigFile(): Record<string, unknown> {
  const file = process.env["SWARMNET_CONFIG"];
  return file === undefined || file === "" ? {} : readConfigFile(file);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function managerAddresses(flags: readonly string[] | undefined): string[] {
  const fromFlags = (flags ?? []).flatMap((f) => f.split(",")).filter((a) => a !== "");
  if (fromFlags.length > 0) return fromFlags;
  const env = (process.env["SWARMNET_MANAGERS"] ?? "").split(",").filter((a) => a !== "");
  if (env.length > 0) return env;
  const cfg = nodeConfigFile();
  const fromFile = strings(cfg["managers"]);
  if (fromFile.length === 0) return [DEFAULT_MANAGER];
  const local = typeof cfg["advertiseAddr"] === "string" ? cfg["advertiseAddr"] : "";
  return [
    ...fromFile.filter((a) => a.startsWith(`${local}:`)),
    ...fromFile.filter((a) => !a.startsWith(`${local}:`)),
  ];
}

interface Clients {
  cluster: ClusterClient;
  nodes: NodesClient;
  networks: NetworksClient;
  services: ServicesClient;
}

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;

export class ManagerClient {
  private readonly clients = new Map<string, Clients>();

  constructor(readonly addresses: readonly string[]) {
    if (addresses.length === 0)
      throw new SwarmnetError(ErrorCode.InvalidArgument, "no manager address given");
  }

  /** Calls one RPC on the first manager that can serve it. */
  call<T>(fn: (c: Clients, options: grpc.CallOptions, cb: Callback<T>) => void): Promise<T> {
    return this.tryFrom(0, fn, undefined);
  }

  private async tryFrom<T>(
    i: number,
    fn: (c: Clients, options: grpc.CallOptions, cb: Callback<T>) => void,
    last: SwarmnetError | undefined,
  ): Promise<T> {
    const address = this.addresses[i];
    if (address === undefined) {
      throw last ?? new SwarmnetError(ErrorCode.Unavailable, "no manager reachable", { retryable: true });
    }
    try {
      return await new Promise<T>((resolve, reject) => {
        fn(this.clientsFor(address), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
          if (err !== null) reject(fromGrpcError(err, `manager ${address}`));
          else if (res === undefined)
            reject(new SwarmnetError(ErrorCode.Internal, `manager ${address}: empty answer`));
          else resolve(res);
        });
      });
    } catch (err) {
      if (
        err instanceof SwarmnetError &&
        err.code === ErrorCode.Unavailable &&
        i + 1 < this.addresses.length
      ) {
        return this.tryFrom(i + 1, fn, err);
      }
      throw err;
    }
  }

  private clientsFor(address: string): Clients {
    let c = this.clients.get(address);
    if (c === undefined) {
      const v1 = (grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType).swarmnet
        .v1;
      const creds = grpc.credentials.createInsecure();
      c = {
        cluster: new v1.Cluster(address, creds),
        nodes: new v1.Nodes(address, creds),
        networks: new v1.Networks(address, creds),
        services: new v1.Services(address, creds),
      };
      this.clients.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) {
      c.cluster.close();
      c.nodes.close();
      c.networks.close();
      c.services.close();
    }
    this.clients.clear();
  }
}

/** Runs `fn` with a client for the resolved managers and closes it afterwards. */
export async function withManagers<T>(
  flags: readonly string[] | undefined,
  fn: (client: ManagerClient) => Promise<T>,
): Promise<T> {
  const client = new ManagerClient(managerAddresses(flags));
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

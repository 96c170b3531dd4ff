/**
 * A promise client for the agent control service (JSON over HTTP/1.1 on the agent's unix
 * socket, http-api.ts), used by the CLI on the node, the lab's chaos runner and tests.
 * Errors come back as SwarmnetError with the agent's code and one-line message; an agent
 * that cannot be reached is a retryable Unavailable saying why in a few words. Each call
 * opens its own connection (a CLI makes one or two), so there is nothing to close.
 */
import { request as httpRequest } from "node:http";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { AgentInfo__Output } from "../../proto/generated/swarmnet/v1/AgentInfo.js";
import type { ConnectRequest } from "../../proto/generated/swarmnet/v1/ConnectRequest.js";
import type { CreateNetworkRequest } from "../../proto/generated/swarmnet/v1/CreateNetworkRequest.js";
import type { Network__Output } from "../../proto/generated/swarmnet/v1/Network.js";
import type { PruneNetworksResponse__Output } from "../../proto/generated/swarmnet/v1/PruneNetworksResponse.js";
import type { RemoveNetworkResponse__Output } from "../../proto/generated/swarmnet/v1/RemoveNetworkResponse.js";
import type { ContainerInfo__Output } from "../../proto/generated/swarmnet/v1/ContainerInfo.js";
import type { DisconnectRequest } from "../../proto/generated/swarmnet/v1/DisconnectRequest.js";
import type { ListNetworksResponse__Output } from "../../proto/generated/swarmnet/v1/ListNetworksResponse.js";
import type { ListContainersResponse__Output } from "../../proto/generated/swarmnet/v1/ListContainersResponse.js";
import type { MembersResponse__Output } from "../../proto/generated/swarmnet/v1/MembersResponse.js";
import type { ReconcilersResponse__Output } from "../../proto/generated/swarmnet/v1/ReconcilersResponse.js";
import type { RemoveResponse__Output } from "../../proto/generated/swarmnet/v1/RemoveResponse.js";
import type { RunRequest } from "../../proto/generated/swarmnet/v1/RunRequest.js";
import { controlPath, type ControlErrorBody, type Method } from "./http-api.js";

const CALL_DEADLINE_MS = 120_000;

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export class AgentClient {
  /** `deadlineMs` bounds every call (the chaos runner asks agents that may be paused). */
  constructor(
    readonly socketPath: string,
    private readonly deadlineMs = CALL_DEADLINE_MS,
  ) {}

  info(): Promise<AgentInfo__Output> {
    return this.unary("Info", {});
  }

  members(): Promise<MembersResponse__Output> {
    return this.unary("Members", {});
  }

  run(r: RunRequest): Promise<ContainerInfo__Output> {
    return this.unary("Run", r);
  }

  list(all: boolean): Promise<ListContainersResponse__Output> {
    return this.unary("List", { all });
  }

  inspect(name: string): Promise<ContainerInfo__Output> {
    return this.unary("Inspect", { name });
  }

  stop(name: string, timeoutSeconds: number): Promise<ContainerInfo__Output> {
    return this.unary("Stop", { name, timeoutSeconds });
  }

  remove(name: string, force: boolean): Promise<RemoveResponse__Output> {
    return this.unary("Remove", { name, force });
  }

  connect(r: ConnectRequest): Promise<ContainerInfo__Output> {
    return this.unary("Connect", r);
  }

  disconnect(r: DisconnectRequest): Promise<ContainerInfo__Output> {
    return this.unary("Disconnect", r);
  }

  /** The node's own networks (bridge, host, none) with its containers on them. */
  networks(): Promise<ListNetworksResponse__Output> {
    return this.unary("Networks", {});
  }

  createNetwork(r: CreateNetworkRequest): Promise<Network__Output> {
    return this.unary("CreateNetwork", r);
  }

  removeNetwork(network: string): Promise<RemoveNetworkResponse__Output> {
    return this.unary("RemoveNetwork", { network });
  }

  pruneNetworks(): Promise<PruneNetworksResponse__Output> {
    return this.unary("PruneNetworks", {});
  }

  /** The reconcile loop's counters, one row per reconciler. */
  reconcilers(): Promise<ReconcilersResponse__Output> {
    return this.unary("Reconcilers", {});
  }

  /** A resync pass of every reconciler; resolves when all finished, with the counters after them. */
  resync(): Promise<ReconcilersResponse__Output> {
    return this.unary("Resync", {});
  }

  exited(name: string, exitCode: number): Promise<ContainerInfo__Output> {
    return this.unary("Exited", { name, exitCode });
  }

  private unary<Res>(method: Method, request: object): Promise<Res> {
    const body = JSON.stringify(request);
    const target = `the agent at ${this.socketPath}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socketPath,
          method: "POST",
          path: controlPath(method),
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => reject(unreachable(target, err)));
          res.on("end", () => {
            clearTimeout(deadline);
            let answer: unknown;
            try {
              answer = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              return reject(new SwarmnetError(ErrorCode.Internal, `${method}: ${target} answered no JSON`));
            }
            if (res.statusCode === 200) return resolve(answer as Res);
            const e = (answer ?? {}) as Partial<ControlErrorBody>;
            const code = KNOWN_CODES.has(e.code ?? "") ? (e.code as ErrorCode) : ErrorCode.Internal;
            reject(new SwarmnetError(code, e.message ?? `${target}: HTTP ${res.statusCode ?? "?"}`));
          });
        },
      );
      const deadline = setTimeout(() => req.destroy(new Error("deadline")), this.deadlineMs);
      req.on("error", (err) => {
        clearTimeout(deadline);
        reject(unreachable(target, err));
      });
      req.end(body);
    });
  }
}

/** Why the agent could not be reached, in a few words, by errno (the error itself stays in `cause`). */
const UNREACHABLE_BECAUSE: Record<string, string> = {
  ENOENT: "no socket there (is it running?)",
  ECONNREFUSED: "connection refused (is it running?)",
  EACCES: "permission denied (root only)",
};

function unreachable(target: string, err: Error): SwarmnetError {
  const why =
    err.message === "deadline"
      ? "no answer in time"
      : (UNREACHABLE_BECAUSE[(err as NodeJS.ErrnoException).code ?? ""] ?? "the connection was closed");
  return new SwarmnetError(ErrorCode.Unavailable, `cannot reach ${target}: ${why}`, {
    cause: err,
    retryable: true,
  });
}

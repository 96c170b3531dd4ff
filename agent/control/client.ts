/**
 * A promise client for the agent control service, used by the CLI on the node. Errors
 * come back as SwarmnetError with the agent's code and one-line message.
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { fromGrpcError } from "../../common/grpc-errors.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { ProtoGrpcType } from "../../proto/generated/swarmnet.js";
import type { AgentControlClient } from "../../proto/generated/swarmnet/v1/AgentControl.js";
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

const CALL_DEADLINE_MS = 120_000;

export class AgentClient {
  private readonly client: AgentControlClient;

  /** `deadlineMs` bounds every call (the chaos runner asks agents that may be paused). */
  constructor(
    readonly socketPath: string,
    private readonly deadlineMs = CALL_DEADLINE_MS,
  ) {
    const proto = grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType;
    this.client = new proto.swarmnet.v1.AgentControl(
      `unix://${socketPath}`,
      grpc.credentials.createInsecure(),
    );
  }

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

  private unary<Res>(method: keyof AgentControlClient & string, request: object): Promise<Res> {
    const fn = this.client[method] as unknown as (
      this: AgentControlClient,
      req: object,
      options: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => void;
    return new Promise((resolve, reject) => {
      fn.call(this.client, request, { deadline: Date.now() + this.deadlineMs }, (err, res) => {
        if (err) reject(fromGrpcError(err, `the agent at ${this.socketPath}`));
        else if (res === undefined) reject(new SwarmnetError(ErrorCode.Internal, `${method}: empty answer`));
        else resolve(res);
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * `ManagerAttacher`: the agent's `NetworkAttacher` (agent/attachments.ts) over the
 * managers' Attachments gRPC service — a standalone container gets its address on a
 * cluster network from the managers' IPAM, and gives it back on removal.
 *
 * Every call carries the node's credential (node id + secret from `cluster.json`), as
 * the dispatcher stream does. Fail-over: the call goes to the manager that answered last,
 * then to the others in order (the stream's current list first when a `DispatcherClient`
 * is given, then the credentials' and the configured ones); only "cannot reach it"
 * (UNAVAILABLE, deadline) moves on — any other answer (not attachable, IP in use, …) is
 * the answer. Attach is safe to repeat: the managers give a container the address it
 * already holds on a network, so a retry after a lost answer does not leak one.
 *
 * This file must not import `manager/`: the wire is the contract.
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { fromGrpcError } from "../../common/grpc-errors.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { ProtoGrpcType } from "../../proto/generated/swarmnet.js";
import type { AttachNetworkResponse__Output } from "../../proto/generated/swarmnet/v1/AttachNetworkResponse.js";
import type { AttachmentsClient } from "../../proto/generated/swarmnet/v1/Attachments.js";
import type { Attachment, AttachRequest, NetworkAttacher } from "../attachments.js";
import type { DispatcherClient } from "./client.js";
import type { ClusterCredentials } from "./credentials.js";
import { networkFromProto } from "./intent-codec.js";

export interface ManagerAttacherOptions {
  /** Managers to try (host:port), asked at every call so a changing list is followed. */
  managers: () => readonly string[];
  nodeId: string;
  nodeSecret: string;
  /** Deadline of one call to one manager. */
  callTimeoutMs?: number;
}

export const MANAGER_ATTACHER_DEFAULTS = {
  // An attach is one etcd transaction (milliseconds); 5 s covers an etcd leader change
  // without keeping `swarmnet run` waiting on a dead manager for long.
  callTimeoutMs: 5_000,
};

type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;

export class ManagerAttacher implements NetworkAttacher {
  private readonly clients = new Map<string, AttachmentsClient>();
  private preferred = "";
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: ManagerAttacherOptions) {
    this.callTimeoutMs = opts.callTimeoutMs ?? MANAGER_ATTACHER_DEFAULTS.callTimeoutMs;
  }

  /**
   * The attacher of a node in a cluster: its credentials, the managers its dispatcher
   * stream reports now (when given), then those of the credentials and `extra`.
   */
  static fromCredentials(
    creds: ClusterCredentials,
    dispatcher?: DispatcherClient,
    extra: readonly string[] = [],
  ): ManagerAttacher {
    return new ManagerAttacher({
      nodeId: creds.nodeId,
      nodeSecret: creds.nodeSecret,
      managers: () => [...(dispatcher?.state.managers ?? []), ...creds.managers, ...extra],
    });
  }

  async attach(req: AttachRequest): Promise<Attachment> {
    const res = await this.call<AttachNetworkResponse__Output>((c, o, cb) =>
      c.Attach(
        {
          nodeId: this.opts.nodeId,
          nodeSecret: this.opts.nodeSecret,
          network: req.network,
          containerId: req.containerId,
          containerName: req.containerName,
          ip: req.ip ?? "",
        },
        o,
        cb,
      ),
    );
    const n = res.network;
    if (n === null || n === undefined) {
      throw new SwarmnetError(ErrorCode.Internal, "the manager's attach answer had no network");
    }
    return {
      intent: networkFromProto(n),
      subnet: res.subnet,
      gateway: res.gateway,
      dataPathPort: res.dataPathPort,
      ip: res.ip,
    };
  }

  async release(networkId: string, containerId: string): Promise<void> {
    await this.call((c, o, cb) =>
      c.Release(
        { nodeId: this.opts.nodeId, nodeSecret: this.opts.nodeSecret, networkId, containerId },
        o,
        cb,
      ),
    );
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** The manager that answered last, then the others in the order given. */
  private candidates(): string[] {
    const all = [...new Set(this.opts.managers())];
    if (all.length === 0) {
      throw new SwarmnetError(ErrorCode.Unavailable, "no manager known: this node has no manager addresses", {
        retryable: true,
      });
    }
    return this.preferred !== "" && all.includes(this.preferred)
      ? [this.preferred, ...all.filter((a) => a !== this.preferred)]
      : all;
  }

  private async call<T>(
    fn: (c: AttachmentsClient, o: grpc.CallOptions, cb: Callback<T>) => void,
  ): Promise<T> {
    let last: SwarmnetError | undefined;
    for (const address of this.candidates()) {
      try {
        const res = await new Promise<T>((resolve, reject) => {
          fn(this.clientFor(address), { deadline: Date.now() + this.callTimeoutMs }, (err, r) => {
            if (err !== null) reject(fromGrpcError(err, `manager ${address}`));
            else if (r === undefined)
              reject(new SwarmnetError(ErrorCode.Internal, `manager ${address}: empty answer`));
            else resolve(r);
          });
        });
        this.preferred = address;
        return res;
      } catch (err) {
        if (err instanceof SwarmnetError && err.code === ErrorCode.Unavailable) {
          last = err;
          continue;
        }
        throw err;
      }
    }
    throw last ?? new SwarmnetError(ErrorCode.Unavailable, "no manager reachable", { retryable: true });
  }

  private clientFor(address: string): AttachmentsClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      const v1 = (grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType).swarmnet
        .v1;
      c = new v1.Attachments(address, grpc.credentials.createInsecure(), {
        // Fail over instead of waiting on a dead manager's reconnect backoff.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1_000,
      });
      this.clients.set(address, c);
    }
    return c;
  }
}

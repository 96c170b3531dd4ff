/**
 * `ManagerAttacher`: the agent's `NetworkAttacher` (agent/attachments.ts) over the
 * managers' Attachments gRPC service — a standalone container gets its address on a
 * cluster network from the managers' IPAM, and gives it back on removal.
 *
 * Calls go through the node's `ManagerPool` (common/manager-pool.ts), the one its
 * dispatcher stream uses: the same TLS channels (the node's certificate is its
 * credential: the managers take the node id from it), the same address list (the
 * managers the stream reports, then the configured ones) and the same fail-over — only
 * "cannot reach it" moves on; any other answer (not attachable, IP in use, …) is the
 * answer. Attach is safe to repeat: the managers give a container the address it
 * already holds on a network, so a retry after a lost answer does not leak one.
 *
 * This file must not import `manager/`: the wire is the contract.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { ManagerPool } from "../../common/manager-pool.js";
import type { AttachNetworkResponse__Output } from "../../proto/generated/swarmnet/v1/AttachNetworkResponse.js";
import type { Attachment, AttachRequest, NetworkAttacher } from "../attachments.js";
import { networkFromProto } from "./intent-codec.js";

export class ManagerAttacher implements NetworkAttacher {
  constructor(private readonly pool: ManagerPool) {}

  async attach(req: AttachRequest): Promise<Attachment> {
    const res = await this.pool.call<AttachNetworkResponse__Output>((c, o, cb) =>
      c.attachments.Attach(
        {
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
    await this.pool.call((c, o, cb) => c.attachments.Release({ networkId, containerId }, o, cb));
  }
}

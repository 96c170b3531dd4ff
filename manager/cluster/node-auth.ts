/**
 * Whether a node is still a member: its record exists and it has not left. The node id
 * comes from the peer's verified certificate (manager/grpc/authorization.ts); a node
 * that left or was removed is refused here even though its certificate has not expired —
 * that is how `node rm` revokes.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { NodeRecord } from "../store/records.js";

export function checkMember(node: NodeRecord | undefined): NodeRecord {
  if (node === undefined || node.credentialHash === "") {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      "this node's certificate is no longer valid: the node left or was removed from the cluster; join it again",
    );
  }
  return node;
}

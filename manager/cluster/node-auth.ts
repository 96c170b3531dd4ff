/**
 * How a manager knows a request comes from a node of the cluster: the node id and the
 * node secret it was given at join (`cluster.json` on the node). Only the secret's
 * SHA-256 is stored; a node that left or was removed has an empty hash and is refused.
 * The dispatcher's Session and the attachments API check the same way, here.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { NodeRecord } from "../store/records.js";
import { hashSecret, sameSecret } from "./ids.js";

/** Returns the node if `secret` is its current credential, else throws `Unauthenticated`. */
export function checkNodeCredential(node: NodeRecord | undefined, secret: string): NodeRecord {
  if (
    node === undefined ||
    node.credentialHash === "" ||
    !sameSecret(node.credentialHash, hashSecret(secret))
  ) {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      "node credential rejected: this node is not (or no longer) part of the cluster; join it again",
    );
  }
  return node;
}

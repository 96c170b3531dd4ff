/**
 * Who may call what on a manager, decided from the transport and the peer certificate —
 * never from a field of the request.
 *
 *   caller     local      the manager's own unix socket (mode 0600: root on its node);
 *                         serves `swarm init`, `swarm unlock` and, as Docker's local
 *                         socket does, anything a manager may do
 *              node       a client certificate that verified against the cluster's trust
 *                         bundle: node id, and role = the lower of the certificate's role
 *                         and the role the managers hold for the node now (a demotion
 *                         counts at once); the node must still be a member (`node rm` and
 *                         `swarm leave` revoke) of this cluster
 *              anonymous  no certificate, or one that did not verify (expired, another
 *                         CA): may fetch the root CA and join with a token, nothing else
 *   policy     anyone < node (an agent's own calls: its stream, attachments, renewal,
 *              leave) < manager (every control API)
 *
 * Refusals: anonymous → Unauthenticated saying a certificate of this cluster is needed;
 * a worker calling a control API → PermissionDenied with Docker's message.
 *
 * Every call through `authorized` leaves an `rpc` mark in the trace ring (the method's
 * path, when it arrived, how long it took, whether it succeeded): where a `swarmnet`
 * command's time goes between the CLI and the managers' answer.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc-errors.js";
import { peerIdentity } from "../../common/pki/tls.js";
import { trace, wallNow } from "../../common/trace-ring.js";
import type { ServiceError, ServerUnaryCall } from "@grpc/grpc-js";
import { checkMember } from "../cluster/node-auth.js";
import type { NodeRecord, NodeRole } from "../store/records.js";

export type Policy = "anyone" | "node" | "manager" | "local";

export type Caller =
  { kind: "local" } | { kind: "node"; nodeId: string; role: NodeRole } | { kind: "anonymous" };

export interface AuthorizationSource {
  transport: "tls" | "local";
  /** The cluster's id, or undefined before `swarm init`. */
  clusterId(): string | undefined;
  node(id: string): Promise<NodeRecord | undefined>;
}

export const NOT_A_MANAGER =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";

const NO_CERTIFICATE =
  "this call needs a certificate of this swarm: the node is not part of it, or its certificate expired or comes from another CA (join with 'swarmnet swarm join')";

type AuthCall = Pick<ServerUnaryCall<unknown, unknown>, "getAuthContext"> &
  Partial<Pick<ServerUnaryCall<unknown, unknown>, "getPath">>;

/** The caller of `call`, if `policy` lets it in; else the refusal. */
export async function authorize(call: AuthCall, policy: Policy, src: AuthorizationSource): Promise<Caller> {
  if (src.transport === "local") {
    if (policy === "node") {
      throw new SwarmnetError(
        ErrorCode.PermissionDenied,
        "this call is an agent's: it needs the node's certificate",
      );
    }
    return { kind: "local" };
  }
  if (policy === "local") {
    throw new SwarmnetError(
      ErrorCode.PermissionDenied,
      "this command runs on the manager's own node (its local socket), not over the network",
    );
  }
  const id = peerIdentity(call);
  if (id === undefined) {
    if (policy === "anyone") return { kind: "anonymous" };
    throw new SwarmnetError(ErrorCode.Unauthenticated, NO_CERTIFICATE);
  }
  const clusterId = src.clusterId();
  if (clusterId !== undefined && id.clusterId !== clusterId) {
    throw new SwarmnetError(ErrorCode.Unauthenticated, "this certificate belongs to another swarm");
  }
  const node = checkMember(await src.node(id.nodeId));
  const role: NodeRole = id.role === "manager" && node.role === "manager" ? "manager" : "worker";
  if (policy === "manager" && role !== "manager")
    throw new SwarmnetError(ErrorCode.PermissionDenied, NOT_A_MANAGER);
  return { kind: "node", nodeId: id.nodeId, role };
}

/** The node id of a node caller (policies "node" and "manager" may be met by local). */
export function callerNode(caller: Caller): string {
  if (caller.kind !== "node") {
    throw new SwarmnetError(
      ErrorCode.PermissionDenied,
      "this call is a node's own: it needs the node's certificate",
    );
  }
  return caller.nodeId;
}

type Respond<Res> = (err: Partial<ServiceError> | null, res?: Res) => void;

/** A unary handler behind `policy`: the handler sees the request and who sent it. */
export function authorized<Req, Res>(
  src: AuthorizationSource,
  policy: Policy,
  handler: (request: Req, caller: Caller) => Promise<Res>,
): (call: AuthCall & { request: Req }, callback: Respond<Res>) => void {
  return (call, callback) => {
    const received = wallNow();
    const done = (ok: boolean) =>
      trace.mark("rpc", call.getPath?.() ?? "", { ms: wallNow() - received, ok }, received);
    authorize(call, policy, src)
      .then((caller) => handler(call.request, caller))
      .then(
        (res) => {
          done(true);
          callback(null, res);
        },
        (err: unknown) => {
          done(false);
          callback(toGrpcError(err));
        },
      );
  };
}

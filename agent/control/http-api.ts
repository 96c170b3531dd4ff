/**
 * How the agent's control API travels on its unix socket: JSON over HTTP/1.1, the way the
 * Docker CLI talks to dockerd on /var/run/docker.sock. The calls and their messages are
 * the `AgentControl` service of proto/agent.proto; a call is `POST /swarmnet.v1.AgentControl/<Method>`
 * with the request as JSON, answered 200 with the response as JSON — exactly the objects
 * a gRPC client of that service would get (the server passes both through the service's
 * protobuf serializers) — or with `{ "code": "SWARMNET_…", "message": "…" }` and an
 * HTTP status that matches the code.
 *
 * Why not gRPC, as between the agent and the managers: a `swarmnet run` is a Node process
 * of its own, and loading @grpc/grpc-js and protobufjs and building the protobuf root cost
 * about 0.1 core-seconds of its ~0.27 (measured 2026-12-03, cpu profile of `run -d`) —
 * the largest share of `bench containers`' 200 runs (issue 16). Node's own http client
 * costs a few milliseconds. Only root reaches the socket (0600), as before.
 *
 * This module is what client and server share; it loads nothing but the error codes.
 */
import { ErrorCode } from "../../common/errors.js";
import type { AgentControlDefinition } from "../../proto/generated/swarmnet/v1/AgentControl.js";

export const CONTROL_SERVICE = "swarmnet.v1.AgentControl";

/** The service's calls by name (the generated type also has grpc-js's index signature). */
export type Method = keyof {
  [K in keyof AgentControlDefinition as string extends K ? never : K]: unknown;
} &
  string;

export function controlPath(method: Method): string {
  return `/${CONTROL_SERVICE}/${method}`;
}

/** The body of every answer that is not 200. */
export interface ControlErrorBody {
  code: string;
  message: string;
}

/** The HTTP status an error answer carries (for people with curl; the client reads `code`). */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidArgument:
    case ErrorCode.InvalidConfig:
    case ErrorCode.MalformedMessage:
      return 400;
    case ErrorCode.PermissionDenied:
    case ErrorCode.Unauthenticated:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.AlreadyExists:
    case ErrorCode.Conflict:
    case ErrorCode.InUse:
    case ErrorCode.PortInUse:
    case ErrorCode.PoolExhausted:
      return 409;
    case ErrorCode.Unsupported:
      return 501;
    case ErrorCode.Unavailable:
    case ErrorCode.QuorumLost:
      return 503;
    case ErrorCode.Timeout:
      return 504;
    default:
      return 500;
  }
}

/**
 * The one boundary between SwarmnetError and gRPC status, used by every gRPC server and
 * client in swarmnet (the managers, and the agents and CLIs talking to them). A server
 * turns a thrown error into a status whose metadata carries our stable code; a client
 * turns a status back into a SwarmnetError with the same code and message. Unknown
 * failures become SWARMNET_INTERNAL; transport failures (UNAVAILABLE, DEADLINE_EXCEEDED)
 * are retryable and say in a few words why the peer could not be reached — grpc-js's
 * details ("No connection established. Last error: …", connection dumps, "Resolution
 * note:") stay in `cause`, never in the message.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "./errors.js";

const CODE_KEY = "swarmnet-code";

const TO_STATUS: Partial<Record<ErrorCode, status>> = {
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.InvalidConfig]: status.INVALID_ARGUMENT,
  [ErrorCode.MalformedMessage]: status.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorCode.Conflict]: status.FAILED_PRECONDITION,
  [ErrorCode.InUse]: status.FAILED_PRECONDITION,
  [ErrorCode.PortInUse]: status.FAILED_PRECONDITION,
  [ErrorCode.PoolExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.PermissionDenied]: status.PERMISSION_DENIED,
  [ErrorCode.Unauthenticated]: status.UNAUTHENTICATED,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
  [ErrorCode.QuorumLost]: status.UNAVAILABLE,
  [ErrorCode.Unsupported]: status.UNIMPLEMENTED,
  [ErrorCode.Timeout]: status.DEADLINE_EXCEEDED,
};

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** For a server handler's callback: any thrown value → a gRPC error carrying our code. */
export function toGrpcError(err: unknown): Partial<ServiceError> {
  const e =
    err instanceof SwarmnetError
      ? err
      : new SwarmnetError(ErrorCode.Internal, err instanceof Error ? err.message : String(err), {
          cause: err,
        });
  const metadata = new Metadata();
  metadata.set(CODE_KEY, e.code);
  return { code: TO_STATUS[e.code] ?? status.INTERNAL, details: e.message, metadata };
}

/** The first line of a foreign error text, without grpc-js's "Last error…"/"Resolution note…" tail. */
export function plainFirstLine(text: string): string {
  return ((text.split("\n")[0] ?? "").split(/ ?(?:Resolution note|Last error)/)[0] ?? "").trim();
}

/** Why a peer could not be reached, in a few words, from grpc-js's status details. */
export function transportReason(code: status, details: string): string {
  const reasons: [RegExp, string][] = [
    // First: grpc-js's deadline text lists its stages ("…,name resolution: 0.6s,…").
    [/^Deadline exceeded/i, "no answer in time"],
    [/ECONNREFUSED|connection refused/i, "connection refused (is it running?)"],
    [/EHOSTUNREACH|ENETUNREACH|no route/i, "no route to it"],
    [/ENOTFOUND|EAI_AGAIN|name resolution|DNS resolution/i, "its name does not resolve"],
    [/ERR_SOCKET_BAD_PORT|port should be/i, "invalid port"],
    [/certificate|handshake|SSL|TLS|self.signed|verif/i, "the TLS handshake failed"],
    [/ECONNRESET|socket hang up|closed|GOAWAY/i, "the connection was closed"],
    [/ETIMEDOUT|timed? ?out|deadline/i, "no answer in time"],
  ];
  for (const [pattern, reason] of reasons) if (pattern.test(details)) return reason;
  return code === status.DEADLINE_EXCEEDED ? "no answer in time" : "unavailable";
}

/** For a client: a gRPC error → SwarmnetError (our code when the server sent one). */
export function fromGrpcError(err: ServiceError, target: string): SwarmnetError {
  const sent = err.metadata?.get(CODE_KEY)[0];
  const details = err.details || err.message;
  if (typeof sent === "string" && KNOWN_CODES.has(sent)) {
    return new SwarmnetError(sent as ErrorCode, details, { cause: err });
  }
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    return new SwarmnetError(
      ErrorCode.Unavailable,
      `cannot reach ${target}: ${transportReason(err.code, details)}`,
      {
        cause: err,
        retryable: true,
      },
    );
  }
  return new SwarmnetError(ErrorCode.Internal, `${target}: ${plainFirstLine(details)}`, { cause: err });
}

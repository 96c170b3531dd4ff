/**
 * The one boundary between SwarmnetError and gRPC status, used by every gRPC server and
 * client in swarmnet (agent control, managers). A server turns a thrown error into a
 * status whose metadata carries our stable code; a client turns a status back into a
 * SwarmnetError with the same code and message. Unknown failures become
 * SWARMNET_INTERNAL; transport failures (UNAVAILABLE, DEADLINE_EXCEEDED) are retryable.
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

/** For a client: a gRPC error → SwarmnetError (our code when the server sent one). */
export function fromGrpcError(err: ServiceError, target: string): SwarmnetError {
  const sent = err.metadata?.get(CODE_KEY)[0];
  if (typeof sent === "string" && KNOWN_CODES.has(sent)) {
    return new SwarmnetError(sent as ErrorCode, err.details || err.message, { cause: err });
  }
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    return new SwarmnetError(ErrorCode.Unavailable, `cannot reach ${target}: ${err.details || err.message}`, {
      cause: err,
      retryable: true,
    });
  }
  return new SwarmnetError(ErrorCode.Internal, `${target}: ${err.details || err.message}`, { cause: err });
}

/** Wraps an async handler into grpc-js's unary (call, callback) shape. */
export function unary<Req, Res>(
  handler: (request: Req) => Promise<Res>,
): (call: { request: Req }, callback: (err: Partial<ServiceError> | null, res?: Res) => void) => void {
  return (call, callback) => {
    handler(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcError(err)),
    );
  };
}

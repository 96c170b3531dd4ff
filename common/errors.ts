/**
 * The one error family of swarmnet. Every failure a user or caller can see carries a
 * stable `code` (scripts match on it; only append new codes, never rename), a one-line
 * message naming the problem, the foreign error it came from as `cause`, and whether
 * trying again may succeed (`retryable`). Foreign errors (execa, gRPC status, etcd) are
 * translated into these at exactly one boundary each.
 */

export const ErrorCode = {
  Internal: "SWARMNET_INTERNAL",
  InvalidArgument: "SWARMNET_INVALID_ARGUMENT",
  InvalidConfig: "SWARMNET_INVALID_CONFIG",
  NotFound: "SWARMNET_NOT_FOUND",
  AlreadyExists: "SWARMNET_ALREADY_EXISTS",
  Conflict: "SWARMNET_CONFLICT",
  InUse: "SWARMNET_IN_USE",
  PortInUse: "SWARMNET_PORT_IN_USE",
  PoolExhausted: "SWARMNET_POOL_EXHAUSTED",
  PermissionDenied: "SWARMNET_PERMISSION_DENIED",
  Unauthenticated: "SWARMNET_UNAUTHENTICATED",
  Unavailable: "SWARMNET_UNAVAILABLE",
  Unsupported: "SWARMNET_UNSUPPORTED",
  Timeout: "SWARMNET_TIMEOUT",
  KernelExists: "SWARMNET_KERNEL_EXISTS",
  KernelNotFound: "SWARMNET_KERNEL_NOT_FOUND",
  KernelUnsupported: "SWARMNET_KERNEL_UNSUPPORTED",
  KernelRejected: "SWARMNET_KERNEL_REJECTED",
  ToolMissing: "SWARMNET_TOOL_MISSING",
  MalformedMessage: "SWARMNET_MALFORMED_MESSAGE",
  /** The cluster store (etcd) has no quorum: every manager would answer the same. */
  QuorumLost: "SWARMNET_QUORUM_LOST",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SwarmnetErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export class SwarmnetError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: SwarmnetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SwarmnetError";
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export function isSwarmnetError(err: unknown, code?: ErrorCode): err is SwarmnetError {
  return err instanceof SwarmnetError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for the one place that prints errors to a user. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

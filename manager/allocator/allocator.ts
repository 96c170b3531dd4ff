/**
 * Cluster-wide integer resources: VXLAN network identifiers and published ports.
 *
 * - VNIs: 4096 … 2^24 − 1, as Docker's overlay driver (lower ids are left to people who
 *   configure VXLAN by hand on the same underlay);
 * - published ports picked for a service that asked for none: 30000 … 32767, Docker's
 *   swarm range (node ports of the same size as Kubernetes').
 *
 * Lowest free first: deterministic and easy to read in `network inspect`. Uniqueness
 * across managers comes from the store (one key per allocated value, created in the same
 * transaction as its owner), not from this function.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export interface IntRange {
  first: number;
  last: number;
  /** Name for errors: "VXLAN id", "published port". */
  what: string;
}

export const VNI_RANGE: IntRange = { first: 4096, last: 2 ** 24 - 1, what: "VXLAN id" };
export const PUBLISHED_PORT_RANGE: IntRange = { first: 30000, last: 32767, what: "published port" };

/** The lowest value of `range` not in `taken`; `PoolExhausted` when there is none. */
export function lowestFree(range: IntRange, taken: ReadonlySet<number>): number {
  for (let v = range.first; v <= range.last; v++) if (!taken.has(v)) return v;
  throw new SwarmnetError(
    ErrorCode.PoolExhausted,
    `no free ${range.what} left in ${range.first}-${range.last}`,
  );
}

/** Checks a value a user asked for: inside the range and free. */
export function checkRequested(range: IntRange, value: number, taken: ReadonlySet<number>): void {
  if (!Number.isInteger(value) || value < range.first || value > range.last) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `${range.what} ${value} is outside ${range.first}-${range.last}`,
    );
  }
  if (taken.has(value))
    throw new SwarmnetError(ErrorCode.Conflict, `${range.what} ${value} is already in use`);
}

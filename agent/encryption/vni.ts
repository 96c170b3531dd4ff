/**
 * VXLAN network identifiers as the encryption backends take them: 24-bit, non-zero
 * (RFC 7348 §5), deduplicated and sorted so rendered rules are stable.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export const MAX_VNI = 0xffffff;

export function validateVnis(vnis: readonly number[]): number[] {
  for (const v of vnis) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_VNI) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `VNI ${String(v)} is not an integer in 1..${MAX_VNI}`,
      );
    }
  }
  return [...new Set(vnis)].sort((a, b) => a - b);
}

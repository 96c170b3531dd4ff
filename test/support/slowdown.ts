/**
 * How many times slower than a namespace on this host the machine running a test is:
 * `$SWARMNET_TEST_SLOWDOWN`, a whole number from 1 (the default) to 100. A test run inside
 * a VM under software emulation (test/vm/, ~20× for Node and the kernel's datapath) sets
 * it. Tests multiply their bounds by it and shrink work sized for speed (transfer sizes,
 * stream rates) by it; they never assert on time, so it only decides how long a wait may
 * last and how much work a check needs, never whether a check passes.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export function testSlowdown(): number {
  const raw = process.env["SWARMNET_TEST_SLOWDOWN"];
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `SWARMNET_TEST_SLOWDOWN must be a whole number from 1 to 100, not ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

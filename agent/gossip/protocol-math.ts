/**
 * The protocol's arithmetic, as small pure functions with table tests. Every timing the
 * state machine uses is derived here from the configuration and the cluster size N, so
 * the formulas can be read (and checked) in one place:
 *
 *   suspicionTimeoutMs      = suspicionMult × max(1, log10(max(N, 1))) × probeInterval
 *       (SWIM's suspicion window grows with log N because gossip needs ~log N rounds to
 *       reach the suspect so it can refute; the max(1, …) keeps small clusters from
 *       getting a zero timeout.)
 *   remainingSuspicionTimeMs: Lifeguard's dynamic suspicion. The timeout starts at max
 *       and falls toward min as independent confirmations c arrive out of k expected:
 *       timeout = max − (log(c + 1) / log(k + 1)) × (max − min), never below min,
 *       minus the time already elapsed.
 *   retransmitLimit         = retransmitMult × ⌈log10(N + 1)⌉
 *       (an epidemic reaches everyone with high probability after O(log N) sends each.)
 *   pushPullScaleMs         = interval × (⌈log2(N) − log2(32)⌉ + 1) for N > 32, else interval
 *       (full-state sync costs O(N) bytes; spacing it out with log N keeps the total bytes
 *       per member roughly flat as the cluster grows.)
 */

/** Minimum suspicion timeout for a cluster of `n` members. */
export function suspicionTimeoutMs(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.round(suspicionMult * nodeScale * probeIntervalMs);
}

/**
 * Time left on a suspicion timer given `confirmations` independent confirmations out of
 * `expected`, `elapsedMs` since it started, and its bounds. May be negative (overdue).
 */
export function remainingSuspicionTimeMs(
  confirmations: number,
  expected: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  if (expected <= 0) return minMs - elapsedMs;
  const frac = Math.log(confirmations + 1) / Math.log(expected + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  const timeout = Math.max(minMs, Math.floor(raw));
  return timeout - elapsedMs;
}

/** How many times each broadcast is transmitted before it leaves the queue. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

const PUSH_PULL_SCALE_THRESHOLD = 32;

/** The push-pull interval for a cluster of `n` members. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return intervalMs * multiplier;
}

/** Lifeguard's expected confirmations: suspicionMult − 2, none when too few members could confirm. */
export function expectedConfirmations(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

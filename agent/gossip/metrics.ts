/**
 * Gossip metrics: plain counters incremented on the hot path (no allocation, no labels
 * map) and a snapshot that adds the gauges (members by state, health score, queue depth).
 * The agent's metrics endpoint renders the snapshot later; names follow Prometheus habits
 * (`…_total` for counters) in the renderer, not here.
 */
import { DROP_REASONS, type DropReason, type MemberState } from "./codec.js";

export class GossipCounters {
  probes = 0;
  probeFailures = 0;
  indirectProbes = 0;
  tcpFallbackProbes = 0;
  suspicionsStarted = 0;
  deathsDeclared = 0;
  refutations = 0;
  packetsIn = 0;
  packetsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  streamsIn = 0;
  streamsOut = 0;
  streamErrors = 0;
  pushPulls = 0;
  conflicts = 0;
  readonly dropped: Record<DropReason, number> = Object.fromEntries(
    DROP_REASONS.map((r) => [r, 0]),
  ) as Record<DropReason, number>;
}

export interface GossipMetrics {
  membersByState: Record<MemberState, number>;
  healthScore: number;
  broadcastQueueDepth: number;
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  tcpFallbackProbes: number;
  suspicionsStarted: number;
  deathsDeclared: number;
  refutations: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  streamsIn: number;
  streamsOut: number;
  streamErrors: number;
  pushPulls: number;
  conflicts: number;
  droppedPackets: Record<DropReason, number>;
}

export function snapshotMetrics(
  c: GossipCounters,
  gauges: {
    membersByState: Readonly<Record<MemberState, number>>;
    healthScore: number;
    broadcastQueueDepth: number;
  },
): GossipMetrics {
  return {
    membersByState: { ...gauges.membersByState },
    healthScore: gauges.healthScore,
    broadcastQueueDepth: gauges.broadcastQueueDepth,
    probes: c.probes,
    probeFailures: c.probeFailures,
    indirectProbes: c.indirectProbes,
    tcpFallbackProbes: c.tcpFallbackProbes,
    suspicionsStarted: c.suspicionsStarted,
    deathsDeclared: c.deathsDeclared,
    refutations: c.refutations,
    packetsIn: c.packetsIn,
    packetsOut: c.packetsOut,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    streamsIn: c.streamsIn,
    streamsOut: c.streamsOut,
    streamErrors: c.streamErrors,
    pushPulls: c.pushPulls,
    conflicts: c.conflicts,
    droppedPackets: { ...c.dropped },
  };
}

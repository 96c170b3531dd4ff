/**
 * Gossip configuration: one typed object, one DEFAULTS table (the LAN profile) with the
 * reason for every value, and the WAN and Local profiles that override a few of them —
 * the shape of memberlist's DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig.
 *
 * The values are memberlist's, on purpose: they are what years of Consul and Docker
 * swarm clusters ran on, and the protocol maths in protocol-math.ts is calibrated for
 * them. The formulas that derive timings from them:
 *   suspicion min  = suspicionMult × max(1, log10(N)) × probeInterval
 *   suspicion max  = suspicionMaxTimeoutMult × min
 *   retransmits    = retransmitMult × ⌈log10(N + 1)⌉
 *   push-pull      = pushPullInterval × (⌈log2(N) − log2(32)⌉ + 1) above 32 members
 *   probe interval and timeout × (health score + 1), health score < awarenessMaxMultiplier
 */
import { bool, durationMs, int, list, loadConfig, oneOf, str, type ConfigSpec } from "../../common/config.js";
import { ErrorCode, errorMessage, SwarmnetError } from "../../common/errors.js";

export const GOSSIP_PROFILES = ["lan", "wan", "local"] as const;
export const PROBE_SCHEDULES = ["slotted", "shuffled"] as const;
export type GossipProfile = (typeof GOSSIP_PROFILES)[number];

export interface GossipConfig {
  /** Which table the defaults came from; informational once loaded. */
  profile: GossipProfile;
  /** This member's name: unique in the cluster, stable across restarts. */
  nodeName: string;
  /** Packets carrying another label are refused, so two clusters on one network stay apart. */
  clusterLabel: string;
  /** Time between probes of one member (before health scaling). Detection speed vs. traffic. */
  probeIntervalMs: number;
  /**
   * Whom to probe next: "shuffled" is memberlist's (round-robin over a private random
   * order); "slotted" coordinates members through the wall clock so every live member is
   * probed once per interval (member-table.ts, slottedProbeTarget).
   */
  probeSchedule: (typeof PROBE_SCHEDULES)[number];
  /** How long a direct ping waits for its ack before asking others (before health scaling). */
  probeTimeoutMs: number;
  /** Members asked to ping a silent target on our behalf (SWIM's k). */
  indirectChecks: number;
  /** Scales the suspicion timeout; higher = fewer false deaths, slower detection. */
  suspicionMult: number;
  /** The suspicion timeout starts at this multiple of its minimum (Lifeguard). */
  suspicionMaxTimeoutMult: number;
  /** Each broadcast is sent retransmitMult × ⌈log10(N+1)⌉ times. */
  retransmitMult: number;
  /** Time between gossip rounds. */
  gossipIntervalMs: number;
  /** Members sent to in each gossip round (fanout). */
  gossipNodes: number;
  /** Dead members still get gossip this long, so a falsely dead one learns it and refutes. */
  gossipToTheDeadMs: number;
  /** Base interval of full-state push-pull with one random member (scaled with N). */
  pushPullIntervalMs: number;
  /** Deadline of a whole stream exchange (connect, send, receive). */
  streamTimeoutMs: number;
  /** Cap of the health multiplier applied to probe interval and timeout (Lifeguard LHA). */
  awarenessMaxMultiplier: number;
  /** Bytes one UDP packet may carry, headers of swarmnet included. */
  packetBudgetBytes: number;
  /** A larger incoming datagram is dropped and counted. */
  maxPacketBytes: number;
  /** A larger stream frame (push-pull, bulk sync) is refused. */
  maxStreamBytes: number;
  /** A dead member's name may be taken by a new address after this long; 0 = only once reaped. */
  deadNodeReclaimMs: number;
  /** When a probe's UDP ping goes unanswered, also try once over a stream. */
  tcpPingFallback: boolean;
  /** How often a member tries a push-pull with a random failed (dead, not left) member. */
  reconnectIntervalMs: number;
  /** A failed member is retried for this long after it was declared dead, then forgotten. */
  reconnectTimeoutMs: number;
  /** While a member knows nobody alive but itself, it retries the seeds of its last join this often. */
  rejoinIntervalMs: number;
  /** AES-256-GCM keys, base64, 32 bytes each; the first encrypts. Empty = plaintext gossip. */
  encryptionKeys: string[];
}

/** The LAN profile. */
export const DEFAULTS: GossipConfig = {
  profile: "lan",
  // No sensible default exists: the agent passes its node name. Empty fails validation.
  nodeName: "",
  // Unlabelled: a single cluster per underlay is the common case.
  clusterLabel: "",
  // 1 s: one probe per member per second is ~100 bytes/s each and finds a crash in about
  // one interval on average (SWIM's e/(e−1) periods); LAN round trips are < 1 ms.
  probeIntervalMs: 1000,
  // slotted: a crash is first probed within about one interval instead of an exponential
  // wait (p99 4.6 intervals), which takes ~3.5 s off the p99 of detection at no cost in
  // bytes; it needs clocks within a fraction of the interval (NTP gives milliseconds) and
  // degrades to random-like probing when they or the views disagree.
  probeSchedule: "slotted",
  // 500 ms: far above any healthy LAN round trip (even a GC pause), leaves half the
  // interval for the indirect probes.
  probeTimeoutMs: 500,
  // 3: three independent paths make a lost packet look like a dead member with
  // probability ~loss^3 instead of ~loss.
  indirectChecks: 3,
  // 4: 12 s minimum suspicion at 1000 members — room for the suspect to hear it and refute.
  suspicionMult: 4,
  // 6: a lone accuser must wait 6× the minimum (72 s at N=1000); independent
  // confirmations bring it down to the minimum (Lifeguard's dynamic suspicion).
  suspicionMaxTimeoutMult: 6,
  // 4: 4 × ⌈log10(N+1)⌉ sends reach every member with high probability even at 10 % loss.
  retransmitMult: 4,
  // 200 ms: broadcasts cross 1000 members in ~5 rounds, so about a second.
  gossipIntervalMs: 200,
  // 3: fanout 3 is memberlist's balance of speed and bytes.
  gossipNodes: 3,
  // 30 s: a member declared dead by mistake hears it within this window and refutes.
  gossipToTheDeadMs: 30_000,
  // 30 s base: anti-entropy for anything gossip missed; scaled up with N to bound bytes.
  pushPullIntervalMs: 30_000,
  // 10 s: a push-pull of thousands of members over a busy LAN link fits comfortably.
  streamTimeoutMs: 10_000,
  // 8: a member that cannot keep up probes 8× slower instead of accusing healthy peers.
  awarenessMaxMultiplier: 8,
  // 1400: fits a 1500-byte Ethernet MTU with IP, UDP and headroom for tunnels.
  packetBudgetBytes: 1400,
  // 65 507: the largest UDP payload; a peer with a bigger budget is still heard.
  maxPacketBytes: 65_507,
  // 64 MiB: a push-pull or bulk sync of tens of thousands of entries; more is an attack.
  maxStreamBytes: 64 * 1024 * 1024,
  // 0: a name stays bound to its address until reaped, so a conflict is reported, not hidden.
  deadNodeReclaimMs: 0,
  // true: a stream to the target survives UDP-only filtering or loss (memberlist's default).
  tcpPingFallback: true,
  // 30 s (Serf's): after a partition heals, the two sides have declared each other dead and
  // stopped talking; retrying failed members is how they find each other again. Each member
  // tries with probability failed/alive, so the cluster as a whole makes about one attempt
  // per failed member per interval.
  reconnectIntervalMs: 30_000,
  // 24 h (Serf's): long enough to ride out any partition a person would wait for.
  reconnectTimeoutMs: 86_400_000,
  // 5 s: members started in any order (a seed not up yet, a node booting before the
  // network) still form one cluster within seconds of the seed answering (Consul's
  // retry_join, faster); a member that is alone costs one stream per seed per 5 s.
  rejoinIntervalMs: 5000,
  // None: the managers hand keys out; until then gossip is plaintext.
  encryptionKeys: [],
};

/** WAN: slower, more tolerant timings for high-latency, lossy links. */
export const WAN_OVERRIDES: Partial<GossipConfig> = {
  profile: "wan",
  // 5 s / 3 s: WAN round trips of hundreds of ms, and far less probe traffic.
  probeIntervalMs: 5000,
  probeTimeoutMs: 3000,
  // 6: longer suspicion so a flapping link does not kill members.
  suspicionMult: 6,
  // 500 ms × 4: fewer, fuller packets; a larger fanout makes up the rounds.
  gossipIntervalMs: 500,
  gossipNodes: 4,
  // 60 s: slower detection means a longer refutation window.
  gossipToTheDeadMs: 60_000,
  // 60 s: full-state syncs are costly over a WAN.
  pushPullIntervalMs: 60_000,
  // 30 s: a slow link still finishes a push-pull.
  streamTimeoutMs: 30_000,
};

/** Local: one host or one rack; fast, nearly lossless. */
export const LOCAL_OVERRIDES: Partial<GossipConfig> = {
  profile: "local",
  // 200 ms: loopback round trips are microseconds.
  probeTimeoutMs: 200,
  // 1: loss is rare, one helper suffices.
  indirectChecks: 1,
  // 2: packets are rarely lost.
  retransmitMult: 2,
  // 3: quicker detection on a link that does not drop packets.
  suspicionMult: 3,
  // 100 ms: faster convergence, traffic is free.
  gossipIntervalMs: 100,
  // 15 s: detection is faster, so is refutation.
  gossipToTheDeadMs: 15_000,
  // 15 s: cheap on a local link.
  pushPullIntervalMs: 15_000,
  // 1 s: a local stream that takes longer is broken.
  streamTimeoutMs: 1000,
};

export function profileDefaults(profile: GossipProfile): GossipConfig {
  switch (profile) {
    case "lan":
      return { ...DEFAULTS };
    case "wan":
      return { ...DEFAULTS, ...WAN_OVERRIDES };
    case "local":
      return { ...DEFAULTS, ...LOCAL_OVERRIDES };
  }
}

const KEY_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

const SPEC: ConfigSpec<GossipConfig> = {
  profile: oneOf(GOSSIP_PROFILES),
  nodeName: str({ pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, hint: "a name of letters, digits, . _ -" }),
  clusterLabel: str({ pattern: /^[A-Za-z0-9_.-]{0,64}$/, hint: "up to 64 letters, digits, . _ -" }),
  probeIntervalMs: durationMs({ min: 10, max: 600_000 }),
  probeSchedule: oneOf(PROBE_SCHEDULES),
  probeTimeoutMs: durationMs({ min: 1, max: 600_000 }),
  indirectChecks: int({ min: 0, max: 16 }),
  suspicionMult: int({ min: 1, max: 100 }),
  suspicionMaxTimeoutMult: int({ min: 1, max: 100 }),
  retransmitMult: int({ min: 1, max: 100 }),
  gossipIntervalMs: durationMs({ min: 1, max: 600_000 }),
  gossipNodes: int({ min: 1, max: 64 }),
  gossipToTheDeadMs: durationMs({ min: 0, max: 86_400_000 }),
  pushPullIntervalMs: durationMs({ min: 0, max: 86_400_000 }),
  streamTimeoutMs: durationMs({ min: 1, max: 600_000 }),
  awarenessMaxMultiplier: int({ min: 1, max: 64 }),
  packetBudgetBytes: int({ min: 256, max: 65_507 }),
  maxPacketBytes: int({ min: 256, max: 65_507 }),
  maxStreamBytes: int({ min: 1024, max: 1024 * 1024 * 1024 }),
  deadNodeReclaimMs: durationMs({ min: 0 }),
  tcpPingFallback: bool(),
  reconnectIntervalMs: durationMs({ min: 0, max: 86_400_000 }),
  reconnectTimeoutMs: durationMs({ min: 0 }),
  rejoinIntervalMs: durationMs({ min: 0, max: 86_400_000 }),
  encryptionKeys: list(str({ pattern: KEY_BASE64, hint: "a base64 32-byte key" })),
};

/**
 * Validated gossip configuration: the profile's defaults with `overrides` on top.
 * Throws SWARMNET_INVALID_CONFIG naming the bad field, e.g. "gossip.probeTimeoutMs: …".
 */
export function loadGossipConfig(overrides: Record<string, unknown> = {}): GossipConfig {
  let profile: GossipProfile;
  try {
    profile = SPEC.profile(overrides["profile"] ?? "lan");
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidConfig, `gossip.profile: ${errorMessage(err)}`, { cause: err });
  }
  const cfg = loadConfig("gossip", SPEC, profileDefaults(profile), overrides);
  if (cfg.probeTimeoutMs > cfg.probeIntervalMs) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      `gossip.probeTimeoutMs: must not exceed probeIntervalMs (${cfg.probeIntervalMs}), got ${cfg.probeTimeoutMs}`,
    );
  }
  return cfg;
}

/** NetworkDB's settings (the tables on top of membership). */
export interface NetworkDbConfig {
  /** Tombstones, and the hidden entries of a dead owner, are forgotten after this long. */
  reapEntryMs: number;
  /** How often reaping runs. */
  reapIntervalMs: number;
  /** Time between gossip rounds of table events, per network. */
  gossipIntervalMs: number;
  /** Network members each round goes to. */
  gossipNodes: number;
  /** Each table event is sent retransmitMult × ⌈log10(network members + 1)⌉ times. */
  retransmitMult: number;
  /**
   * A member's own change (its endpoint appeared, changed or went) is also sent at once,
   * without waiting for a gossip round, straight to this many members of the network
   * (all of them in a network this small or smaller); gossip still spreads and repeats
   * it. 0: gossip rounds only.
   */
  pushNodes: number;
  /** Anti-entropy: a full table exchange per network with one random member this often. */
  bulkSyncIntervalMs: number;
}

export const NETWORKDB_DEFAULTS: NetworkDbConfig = {
  // 30 min: a dead owner that comes back within half an hour finds its endpoints still
  // there (a partition or a stuck host); a delete is remembered long enough that no
  // late-arriving put can undo it.
  reapEntryMs: 30 * 60_000,
  // 5 s (Docker's NetworkDB): reaping is a scan; often enough that memory follows churn.
  reapIntervalMs: 5000,
  // 200 ms, as membership: an endpoint must reach every VTEP of its network in about a second.
  gossipIntervalMs: 200,
  // 3, as membership.
  gossipNodes: 3,
  // 4, as membership.
  retransmitMult: 4,
  // 32: a new endpoint reaches a network of up to 33 nodes in one hop instead of waiting
  // up to a gossip interval per round (the dominant wait of `run` → reachable, issue 16);
  // the cost is one small packet per member per own change. Past 32, gossip from the 32
  // that have it reaches the rest within a round or two.
  pushNodes: 32,
  // 30 s (Docker's NetworkDB): repairs what gossip missed; a new member of the network
  // also syncs at once when it joins.
  bulkSyncIntervalMs: 30_000,
};

const NETWORKDB_SPEC: ConfigSpec<NetworkDbConfig> = {
  reapEntryMs: durationMs({ min: 1000 }),
  reapIntervalMs: durationMs({ min: 10, max: 3_600_000 }),
  gossipIntervalMs: durationMs({ min: 1, max: 600_000 }),
  gossipNodes: int({ min: 1, max: 64 }),
  retransmitMult: int({ min: 1, max: 100 }),
  pushNodes: int({ min: 0, max: 1024 }),
  bulkSyncIntervalMs: durationMs({ min: 0, max: 86_400_000 }),
};

/** Validated NetworkDB configuration; errors name the field ("networkdb.reapEntryMs: …"). */
export function loadNetworkDbConfig(overrides: Record<string, unknown> = {}): NetworkDbConfig {
  return loadConfig("networkdb", NETWORKDB_SPEC, NETWORKDB_DEFAULTS, overrides);
}

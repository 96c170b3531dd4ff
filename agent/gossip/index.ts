/**
 * agent/gossip — how every node learns who is alive and where every endpoint lives.
 *
 * SWIM membership with the Lifeguard extensions, after HashiCorp memberlist (probe →
 * indirect probe → suspect → dead, incarnations and refutation, piggy-backed broadcasts,
 * push-pull anti-entropy, local health awareness, dynamic suspicion, buddy refutation,
 * AES-256-GCM keyring), NetworkDB tables on top (per-network, Lamport-versioned, dead
 * owners hidden rather than deleted), a UDP+TCP transport and a simulated network.
 *
 * Typical use in the agent:
 *
 *   const config = loadGossipConfig({ nodeName, profile: "lan", encryptionKeys });
 *   const transport = await UdpTcpTransport.create({ bindAddr: "0.0.0.0", bindPort: 7946, advertiseAddr });
 *   const members = new Memberlist(config, transport, { logger, meta: Buffer.from(vtepAddr) });
 *   const db = new NetworkDB(members);
 *   members.start(); db.start();
 *   await members.join(["100.64.1.1:7946"]);          // resolves with the number of seeds reached
 *   members.on("dead", (m) => …);                       // join | update | leave | dead | conflict
 *   db.joinNetwork(netId);
 *   db.put(netId, "endpoints", epId, bytes);
 *   const off = db.subscribe(netId, "endpoints", (change) => …);  // snapshot ("add"s) first
 *   …
 *   await members.leave(5000); db.stop(); members.stop();
 *
 * Everything here runs on an injected Clock and Random; on the SimNetwork (virtual clock,
 * loss, latency, partitions, paused and crashed processes) a whole cluster runs in one
 * process — the tests and `swarmnet bench gossip` do exactly that.
 */

export {
  DEFAULTS as GOSSIP_DEFAULTS,
  GOSSIP_PROFILES,
  LOCAL_OVERRIDES,
  NETWORKDB_DEFAULTS,
  WAN_OVERRIDES,
  loadGossipConfig,
  loadNetworkDbConfig,
  profileDefaults,
  type GossipConfig,
  type GossipProfile,
  type NetworkDbConfig,
} from "./config.js";
export {
  Memberlist,
  META_MAX_BYTES,
  type MemberConflict,
  type MemberlistDelegate,
  type MemberlistEvents,
  type MemberlistOptions,
} from "./memberlist.js";
export type { Member } from "./member-table.js";
export type { DropReason, MemberState } from "./codec.js";
export type { GossipMetrics } from "./metrics.js";
export { Keyring, KEY_BYTES } from "./keyring.js";
export {
  NetworkDB,
  type NetworkDbMetrics,
  type NetworkDbOptions,
  type TableChange,
  type TableEventHandler,
  type VisibleEntry,
} from "./networkdb.js";
export { splitHostPort, type RequestCallback, type Transport, type TransportHandlers } from "./transport.js";
export { UdpTcpTransport, type UdpTcpTransportOptions } from "./udp-tcp-transport.js";
export {
  SimNetwork,
  SimTransport,
  type LinkParams,
  type SimNetworkOptions,
  type SimStats,
} from "./sim-network.js";
export { SimCluster, simAddr, type SimClusterOptions, type SimMember } from "./sim-cluster.js";
export { mathRandom, seededRandom, type Random } from "./random.js";
export {
  pushPullScaleMs,
  remainingSuspicionTimeMs,
  retransmitLimit,
  suspicionTimeoutMs,
} from "./protocol-math.js";

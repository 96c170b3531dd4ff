/**
 * The embedded DNS's settings: one DEFAULTS table, a reason per value. Docker's embedded
 * resolver (libnetwork resolver.go) is the model where it says something.
 */
export interface DnsConfig {
  /** TTL of the answers for swarm names. */
  ttlSeconds: number;
  /** Largest UDP answer we send; bigger ones are truncated (TC) so the client asks over TCP. */
  udpAnswerBytes: number;
  /** How long one upstream server gets to answer one forwarded query. */
  forwardAttemptMs: number;
  /** Every upstream together: past this the client gets SERVFAIL. */
  forwardBudgetMs: number;
  /** Forwarded queries in flight on this node; more get SERVFAIL at once. */
  maxForwardsInFlight: number;
  /** A TCP client connection idle this long is closed. */
  tcpIdleMs: number;
  /** Open TCP connections per container; more are closed at once. */
  maxTcpConnections: number;
  /**
   * After this node starts serving a network (a first container on it, or an agent
   * restart), a swarm name not found on it is SERVFAIL rather than NXDOMAIN for this long,
   * unless another node's endpoint was heard on it already (gossip's bulk sync arrived).
   */
  freshNetworkMs: number;
}

export const DNS_DEFAULTS: DnsConfig = {
  // Docker answers with TTL 600; clients that cache (nscd, JVMs) behave as they do there.
  ttlSeconds: 600,
  // RFC 1035's limit without EDNS: we do not echo EDNS, so this is what every client takes.
  udpAnswerBytes: 512,
  // glibc waits 5 s per server before its own retry; an upstream that has not answered in
  // 2 s is better replaced by the next one.
  forwardAttemptMs: 2_000,
  // SERVFAIL in bounded time (issue 12: within 5 s), before glibc's own 5 s timeout fires.
  forwardBudgetMs: 4_000,
  // Each forward holds one socket for at most the budget: this bounds sockets and memory
  // under a flood of queries for external names.
  maxForwardsInFlight: 512,
  // Docker's resolver closes idle TCP clients after a few seconds too; a client reconnects.
  tcpIdleMs: 10_000,
  // A container needs one or two for a truncated answer; more is a misbehaving program.
  maxTcpConnections: 16,
  // A bulk sync with one peer takes well under a second in a LAN; a restarted agent first
  // waits for the managers and rejoins gossip (a few seconds on a loaded machine). Past
  // this, a network where no other node's endpoint was heard is taken as having none.
  freshNetworkMs: 15_000,
};

/**
 * The routing mesh's configuration: one spec, one DEFAULTS table with the reason for each
 * value, validated by `loadConfig` ("ingress.resyncIntervalMs: …" on a bad field).
 */
import { bool, durationMs, int, loadConfig, type ConfigSpec } from "../../common/config.js";

export interface MeshConfig {
  /**
   * `net.netfilter.nf_conntrack_tcp_timeout_established` set in the mesh's namespace: how
   * long an idle established TCP connection keeps its NAT binding (and so its backend).
   * The IPVS backend sets IPVS's own TCP idle timeout to the same value.
   */
  conntrackEstablishedTimeoutS: number;
  /** Set `net.ipv4.ip_forward=1` in the namespace (a node routes to backends; a container namespace holding only VIPs does not need it). */
  forwarding: boolean;
  /** Period of the full re-render that repairs drift (someone else's `nft` edit, a lost element). */
  resyncIntervalMs: number;
  /** Elements per `add element` statement in a script. */
  elementsPerStatement: number;
  /** IPVS backend: idle timeout of a TCP connection after FIN (`ipvsadm --set`'s second value). */
  ipvsTcpFinTimeoutS: number;
  /** IPVS backend: idle timeout of a UDP "connection" (`ipvsadm --set`'s third value). */
  ipvsUdpTimeoutS: number;
}

export const MESH_DEFAULTS: MeshConfig = {
  // The kernel's own default (5 days), set explicitly because a tuned host may have lowered
  // it: Docker's IPVS cut idle connections after 900 s (moby#31208). Longer than any TCP
  // keepalive (7,200 s) so a keepalive always refreshes it.
  conntrackEstablishedTimeoutS: 432_000,
  // The node namespace forwards every ingress connection to a backend.
  forwarding: true,
  // A full re-render of 10,000 services costs ≈ 1 s of CPU: every 5 minutes is < 0.4 %.
  resyncIntervalMs: 300_000,
  // Measured: 1,000 per statement applies 110k elements ≈ 10 % faster than one per set.
  elementsPerStatement: 1000,
  // IPVS's own default: a closing connection needs no longer.
  ipvsTcpFinTimeoutS: 120,
  // IPVS's default is 300 s; nf_conntrack's for a UDP stream is 120 s (180 s assured):
  // 300 s keeps a quiet UDP flow on its backend at least as long as the nftables mesh does.
  ipvsUdpTimeoutS: 300,
};

const SPEC: ConfigSpec<MeshConfig> = {
  conntrackEstablishedTimeoutS: int({ min: 60, max: 2_147_483 }),
  forwarding: bool(),
  resyncIntervalMs: durationMs({ min: 1000 }),
  elementsPerStatement: int({ min: 1, max: 100_000 }),
  ipvsTcpFinTimeoutS: int({ min: 1, max: 2_147_483 }),
  ipvsUdpTimeoutS: int({ min: 1, max: 2_147_483 }),
};

export function loadMeshConfig(overrides: Record<string, unknown> = {}): MeshConfig {
  return loadConfig("ingress", SPEC, MESH_DEFAULTS, overrides);
}

/**
 * The agent's configuration: one spec, one DEFAULTS table with the reason for each value.
 * Sources, later ones winning: DEFAULTS, the JSON file in $SWARMNET_CONFIG (the lab
 * writes one per node), command-line flags.
 */
import { hostname } from "node:os";
import {
  durationMs,
  int,
  ipv4,
  oneOf,
  hostPort,
  list,
  loopbackHostPort,
  loadConfig,
  str,
  optional,
  readConfigFile,
  type ConfigSpec,
  type FieldParser,
} from "../common/config.js";
import { MESH_BACKEND_CHOICES, type MeshBackendChoice } from "./ingress/backend-choice.js";

export interface AgentConfig {
  /** This node's name in the cluster: unique, stable across restarts. */
  nodeName: string;
  /** The underlay address other nodes reach this one on (VXLAN, gossip). */
  advertiseAddr: string | undefined;
  /** Managers to dial, host:port; tried in order, then round-robin on failure. */
  managers: string[];
  /** Local state (control socket, adopted-object records); survives agent restarts. */
  stateDir: string;
  /**
   * Prefix of every namespace this agent creates (overlay sandboxes, containers). On a
   * real node the agent owns the kernel and "sn-" is enough; in the lab many agents share
   * one kernel, so each gets its node namespace's name plus a dash (`sn-L-n1-`).
   */
  netnsPrefix: string;
  /** How often the agent re-reads the kernel and repairs drift. */
  resyncIntervalMs: number;
  /** UDP and TCP port of gossip on the advertise address; 0 turns gossip off. */
  gossipPort: number;
  /** Gossip timing profile: lan, wan or local (see agent/gossip/config.ts). */
  gossipProfile: string;
  /**
   * Where the embedded DNS forwards names that are not the swarm's, as IPv4:port; empty:
   * the `nameserver` lines of the node's /etc/resolv.conf, port 53.
   */
  dnsUpstreams: string[];
  /** Where Prometheus metrics are served (`/metrics`), loopback host:port. */
  metricsAddr: string;
  /**
   * What balances published ports and VIPs: "auto" (IPVS where the probe finds ip_vs,
   * else nftables), "nftables" or "ipvs" (agent/ingress/backend-choice.ts).
   */
  ingressBackend: MeshBackendChoice;
}

export const AGENT_DEFAULTS: AgentConfig = {
  // The hostname is what a person expects to see in `node ls`; the lab passes n1…nN.
  nodeName: hostname(),
  // Unset: chosen from the route to the first manager once the dispatcher exists.
  advertiseAddr: undefined,
  // None: an agent without managers still probes and gossips with what it already knows.
  managers: [],
  // /var/lib survives reboots, so restart recovery can adopt what the agent owns.
  stateDir: "/var/lib/swarmnet",
  // Short: namespace names show up in `ip netns list` and must stay readable.
  netnsPrefix: "sn-",
  // Drift (a hand-deleted FDB entry or veth) is repaired within this time. Changes take
  // the fast path and never wait for it, so it is only the repair bound: each resync costs
  // about 20 `ip`/`bridge`/`nft` processes on a node, 5–7 % of a core at 10 s (#16's bench).
  // 30 s is kube-proxy's default sync period for the same job.
  resyncIntervalMs: 30_000,
  // memberlist's and Docker's port, so firewalls written for either apply.
  gossipPort: 7946,
  // A swarm's nodes share a LAN; the WAN profile trades detection speed for tolerance.
  gossipProfile: "lan",
  // The node's own resolvers, as Docker does; the lab names its stand-in for the outside.
  dnsUpstreams: [],
  // Docker's metrics-addr port, on loopback: the endpoint has no authentication, and in
  // the lab every node namespace has its own loopback, so every agent can use it.
  metricsAddr: "127.0.0.1:9323",
  // The probe decides, as for encryption; forcing one compares them, or keeps a node on
  // nftables where an operator does not want IPVS's separate connection table.
  ingressBackend: "auto",
};

/** IPv4:port (an upstream resolver). */
function ipv4Port(): FieldParser<string> {
  const address = ipv4();
  const hp = hostPort();
  return (raw) => {
    const v = hp(raw);
    address(v.split(":")[0]);
    return v;
  };
}

const SPEC: ConfigSpec<AgentConfig> = {
  nodeName: str({ pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, hint: "a name of letters, digits, . _ -" }),
  advertiseAddr: optional(ipv4()),
  managers: list(hostPort()),
  stateDir: str({ pattern: /^\//, hint: "an absolute path" }),
  netnsPrefix: str({ pattern: /^[a-z0-9-]{1,30}$/, hint: "lowercase letters, digits and dashes" }),
  resyncIntervalMs: durationMs({ min: 100 }),
  gossipPort: int({ min: 0, max: 65535 }),
  gossipProfile: oneOf(["lan", "wan", "local"]),
  dnsUpstreams: list(ipv4Port()),
  metricsAddr: loopbackHostPort(),
  ingressBackend: oneOf(MESH_BACKEND_CHOICES),
};

/** Fields of the lab's per-node config file that the agent reads. */
const FILE_FIELDS: Record<string, keyof AgentConfig> = {
  node: "nodeName",
  advertiseAddr: "advertiseAddr",
  managers: "managers",
  dnsUpstreams: "dnsUpstreams",
  ingressBackend: "ingressBackend",
};

export function loadAgentConfig(flags: Partial<Record<keyof AgentConfig, unknown>>): AgentConfig {
  const fromFile: Record<string, unknown> = {};
  const file = process.env["SWARMNET_CONFIG"];
  if (file !== undefined && file !== "") {
    const raw = readConfigFile(file);
    for (const [k, field] of Object.entries(FILE_FIELDS)) if (raw[k] !== undefined) fromFile[field] = raw[k];
  }
  const fromFlags = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  return loadConfig("agent", SPEC, AGENT_DEFAULTS, { ...fromFile, ...fromFlags });
}

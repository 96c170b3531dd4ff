/**
 * The embedded DNS (public face): 127.0.0.11 in every container on a user-defined
 * network, names scoped per network, answered from the node snapshot, the rest forwarded
 * to the node's upstreams.
 */
export { DNS_DEFAULTS, type DnsConfig } from "./config.js";
export { EmbeddedDns, type EmbeddedDnsDeps } from "./embedded-dns.js";
export { buildNameTable, NameTable, type Lookup } from "./name-table.js";
export {
  containerResolvConf,
  EMBEDDED_DNS_ADDRESS,
  DNS_PORT,
  nodeUpstreams,
  parseNameservers,
  parseUpstream,
} from "./resolv-conf.js";
export { Resolver, type ResolverStats } from "./resolver.js";
export { Upstream, type UpstreamServer } from "./upstream.js";

/**
 * Kernel capability probe: what this kernel offers, found by *trying* each feature in a
 * scratch network namespace (never by reading version numbers, which lie about modules
 * and distribution backports). The namespace is created with a unique name and always
 * deleted, so probing leaves nothing behind and never touches the host namespace.
 *
 * Each trial is independent: one missing feature never hides another. The result feeds
 * driver choices (IPVS or nftables, kernel ESP or the user-space encrypted datapath) and
 * is reported to the managers (`swarmnet node inspect`) and by `swarmnet agent --probe`.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { release } from "node:os";
import { errorMessage } from "../common/errors.js";
import type { Executor } from "../common/executor.js";

export type { KernelCapability, NodeCapabilities } from "../common/cluster-types.js";
import type { KernelCapability } from "../common/cluster-types.js";

/** What the probe found: the node's capabilities before its agent adds the drivers it runs. */
export interface KernelCapabilities {
  kernelRelease: string;
  features: KernelCapability[];
}

/** Feature names, in display order. Stable: reported to managers and scripts. */
export const FEATURES = [
  "veth",
  "bridge",
  "vxlan",
  "macvlan",
  "ipvlan",
  "vlan_8021q",
  "tuntap",
  "wireguard",
  "nftables",
  "nft_nat",
  "nft_numgen",
  "nft_jhash",
  "ipvs",
  "xfrm",
  "esp_aes_gcm",
] as const;

export type Feature = (typeof FEATURES)[number];

interface Trial {
  name: Feature;
  /** What is tried, shown when it works. */
  what: string;
  run(ns: string): Promise<unknown>;
}

/** A throwaway AES-GCM key for the ESP trial: 32 key bytes + 4 salt bytes (RFC 4106). */
const PROBE_AEAD_KEY = "0x" + "ab".repeat(36);

const NFT_BASE = "table ip swarmnet_probe {\n chain c {\n type filter hook input priority 0;\n }\n}\n";
const NFT_NAT =
  "table ip swarmnet_probe_nat {\n chain c {\n type nat hook prerouting priority -100;\n }\n}\n";
const nftNatRule = (expr: string): string =>
  `table ip swarmnet_probe_${expr.split(" ")[0]} {\n chain c {\n type nat hook prerouting priority -100;\n` +
  ` tcp dport 80 dnat to ${expr} map { 0 : 192.0.2.1, 1 : 192.0.2.2 }\n }\n}\n`;

function trials(ex: Executor): Trial[] {
  const ip = (ns: string, ...args: string[]) => ex.ip(args, { netns: ns });
  return [
    {
      name: "veth",
      what: "veth pair",
      run: (ns) => ip(ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1"),
    },
    { name: "bridge", what: "bridge device", run: (ns) => ip(ns, "link", "add", "br0", "type", "bridge") },
    {
      name: "vxlan",
      what: "VXLAN device, dstport 4789, nolearning",
      run: (ns) => ip(ns, "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789", "nolearning"),
    },
    {
      name: "macvlan",
      what: "macvlan in bridge mode on a veth",
      run: (ns) => ip(ns, "link", "add", "mv0", "link", "p0", "type", "macvlan", "mode", "bridge"),
    },
    {
      name: "ipvlan",
      what: "ipvlan l2 on a veth",
      // On p1, not p0: a device takes one receive handler, and macvlan's trial already put
      // its own on p0 (ipvlan there fails "Device or resource busy" even where it exists).
      run: (ns) => ip(ns, "link", "add", "ipv0", "link", "p1", "type", "ipvlan", "mode", "l2"),
    },
    {
      name: "vlan_8021q",
      what: "802.1q sub-interface on a veth",
      run: (ns) => ip(ns, "link", "add", "link", "p0", "name", "p0.10", "type", "vlan", "id", "10"),
    },
    {
      name: "tuntap",
      what: "TAP device",
      run: (ns) => ip(ns, "tuntap", "add", "dev", "tap0", "mode", "tap"),
    },
    {
      name: "wireguard",
      what: "WireGuard device",
      run: (ns) => ip(ns, "link", "add", "wg0", "type", "wireguard"),
    },
    { name: "nftables", what: "filter table", run: (ns) => ex.nftApply(NFT_BASE, { netns: ns }) },
    { name: "nft_nat", what: "nat chain", run: (ns) => ex.nftApply(NFT_NAT, { netns: ns }) },
    {
      name: "nft_numgen",
      what: "dnat through a numgen map",
      run: (ns) => ex.nftApply(nftNatRule("numgen inc mod 2"), { netns: ns }),
    },
    {
      name: "nft_jhash",
      what: "dnat through a jhash map",
      run: (ns) => ex.nftApply(nftNatRule("jhash ip saddr mod 2"), { netns: ns }),
    },
    { name: "ipvs", what: "ip_vs in /proc/net", run: async () => probeIpvs() },
    { name: "xfrm", what: "xfrm state list", run: (ns) => ip(ns, "xfrm", "state", "list") },
    {
      name: "esp_aes_gcm",
      what: "ESP transport state with rfc4106(gcm(aes))",
      run: (ns) =>
        ip(
          ns,
          "xfrm",
          "state",
          "add",
          "src",
          "192.0.2.1",
          "dst",
          "192.0.2.2",
          "proto",
          "esp",
          "spi",
          "0x1000",
          "reqid",
          "1",
          "mode",
          "transport",
          "aead",
          "rfc4106(gcm(aes))",
          PROBE_AEAD_KEY,
          "128",
        ),
    },
  ];
}

/**
 * IPVS has no iproute2 front end, so this one trial reads instead of tries: the kernel
 * exposes /proc/net/ip_vs once the module is in, and ships the module file otherwise.
 */
function probeIpvs(): void {
  if (existsSync("/proc/net/ip_vs")) return;
  const dir = `/lib/modules/${release()}/kernel/net/netfilter/ipvs`;
  if (existsSync(dir) && readdirSync(dir).some((f) => f.startsWith("ip_vs."))) return;
  throw new Error("no /proc/net/ip_vs and no ip_vs module");
}

export async function probeKernel(ex: Executor): Promise<KernelCapabilities> {
  const ns = `sn-probe-${process.pid}-${randomBytes(3).toString("hex")}`;
  await ex.netnsAdd(ns);
  try {
    const features: KernelCapability[] = [];
    for (const trial of trials(ex)) {
      try {
        await trial.run(ns);
        features.push({ name: trial.name, available: true, detail: trial.what });
      } catch (err) {
        features.push({
          name: trial.name,
          available: false,
          detail: errorMessage(err).replace(/^.*?: /, ""),
        });
      }
    }
    return { kernelRelease: release(), features };
  } finally {
    await ex.netnsDelete(ns);
  }
}

export function hasFeature(caps: KernelCapabilities, name: Feature): boolean {
  return caps.features.some((f) => f.name === name && f.available);
}

export function formatCapabilities(caps: KernelCapabilities): string {
  const width = Math.max(...caps.features.map((f) => f.name.length));
  const lines = [`kernel ${caps.kernelRelease}`, `${"FEATURE".padEnd(width)}  AVAILABLE  DETAIL`];
  for (const f of caps.features) {
    lines.push(`${f.name.padEnd(width)}  ${(f.available ? "yes" : "no").padEnd(9)}  ${f.detail}`);
  }
  return lines.join("\n");
}

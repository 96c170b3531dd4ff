/**
 * The bridge driver's decisions, as a pure function: (desired, observed) → ordered `ip`
 * batches. Bridges first (created with their alias, gateway address and MTU, then up),
 * then endpoints (a veth pair whose container side is named, addressed and routed in the
 * container's namespace), then removals: stale veths, then bridges no network wants any
 * more (only ours: the alias says so). An endpoint whose veth exists but whose container
 * side is broken is rebuilt; one that only lost its default route (the endpoint holding
 * it was disconnected) gets the route back, nothing else. Add-only plans remove nothing.
 */
import type { BridgeDesired, BridgeEndpoint, ObservedBridges } from "./model.js";
import { bridgeAlias, bridgeVeth } from "./names.js";

/** One batch of `ip` lines in one namespace (undefined: the node's own). */
export interface BridgeStep {
  netns: string | undefined;
  lines: string[];
  /** A removal: a device already gone is what was wanted anyway. */
  removal?: boolean;
}

export function planBridges(desired: BridgeDesired, observed: ObservedBridges): BridgeStep[] {
  const steps: BridgeStep[] = [];
  const cleanup: BridgeStep[] = [];
  const wantedDevices = new Set(desired.networks.map((n) => n.device));
  for (const n of desired.networks) {
    const seen = observed.bridges.get(n.device);
    const cidr = `${n.gateway}/${n.prefix}`;
    const lines: string[] = [];
    if (seen === undefined) lines.push(`link add ${n.device} type bridge`);
    if (seen?.owner !== n.id) lines.push(`link set dev ${n.device} alias ${bridgeAlias(n.id)}`);
    if (!(seen?.addrs.includes(cidr) ?? false)) lines.push(`addr replace ${cidr} dev ${n.device}`);
    if (seen === undefined || !seen.up || seen.mtu !== n.mtu)
      lines.push(`link set ${n.device} mtu ${n.mtu} up`);
    if (lines.length > 0) steps.push({ netns: undefined, lines });
  }
  const wantedVeths = new Set<string>();
  for (const ep of desired.endpoints) {
    const veth = bridgeVeth(ep.key);
    wantedVeths.add(veth);
    const present = observed.veths.has(veth);
    const attached = observed.veths.get(veth) === ep.device;
    if (present && attached && observed.healthy.has(ep.key)) {
      if (ep.defaultVia !== undefined && !observed.routed.has(ep.key))
        steps.push({ netns: ep.netns, lines: [defaultRoute(ep, ep.defaultVia)] });
      continue;
    }
    if (present) steps.push({ netns: undefined, lines: [`link del ${veth}`], removal: true });
    steps.push(...endpointSteps(ep, veth));
  }
  for (const veth of observed.veths.keys())
    if (!wantedVeths.has(veth))
      cleanup.push({ netns: undefined, lines: [`link del ${veth}`], removal: true });
  for (const [device, b] of observed.bridges)
    if (b.owner !== "" && !wantedDevices.has(device))
      cleanup.push({ netns: undefined, lines: [`link del ${device}`], removal: true });
  return desired.addOnly === true ? steps : [...steps, ...cleanup];
}

function defaultRoute(ep: BridgeEndpoint, via: string): string {
  return `route replace default via ${via} dev ${ep.ifname}`;
}

function endpointSteps(ep: BridgeEndpoint, veth: string): BridgeStep[] {
  const host = [
    `link add ${veth} mtu ${ep.mtu} type veth peer name ${ep.ifname} netns ${ep.netns}`,
    `link set ${veth} master ${ep.device}`,
    ...(ep.isolated ? [`link set dev ${veth} type bridge_slave isolated on`] : []),
    `link set ${veth} up`,
  ];
  const inside = [
    `link set ${ep.ifname} address ${ep.mac} mtu ${ep.mtu}`,
    `addr add ${ep.ip}/${ep.prefix} dev ${ep.ifname}`,
    `link set ${ep.ifname} up`,
    ...(ep.defaultVia === undefined ? [] : [defaultRoute(ep, ep.defaultVia)]),
  ];
  return [
    { netns: undefined, lines: host },
    { netns: ep.netns, lines: inside },
  ];
}

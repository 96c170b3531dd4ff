/**
 * The sub-interface drivers' decisions, pure: (desired, observed, made before) → `ip`
 * batches. VLAN parents first, then endpoints (a sub-interface of the parent under a
 * temporary name, moved into the container, renamed, addressed, routed), then removals:
 * leftovers of a failed pass, endpoints no longer wanted (disconnected: the device in the
 * container goes), VLAN sub-interfaces no network wants. Add-only plans remove nothing.
 */
import type { MadeEndpoint, ObservedSub, SubDesired, SubEndpoint } from "./model.js";
import { tempName, vlanAlias } from "./names.js";
import type { SubKind } from "../../../common/parent-network.js";

export interface SubStep {
  netns: string | undefined;
  lines: string[];
  removal?: boolean;
}

export function planSub(
  kind: SubKind,
  desired: SubDesired,
  observed: ObservedSub,
  made: readonly MadeEndpoint[],
): SubStep[] {
  const steps: SubStep[] = [];
  const cleanup: SubStep[] = [];
  for (const s of observed.strays) steps.push({ netns: undefined, lines: [`link del ${s}`], removal: true });
  const wantedVlans = new Set(desired.vlans.map((v) => v.device));
  const making = new Set<string>();
  for (const v of desired.vlans) {
    // Made once, whichever network (local or swarm-scope) names it first.
    if (observed.devices.has(v.device) || making.has(v.device)) continue;
    making.add(v.device);
    steps.push({
      netns: undefined,
      lines: [
        `link add link ${v.base} name ${v.device} type vlan id ${v.id}`,
        `link set dev ${v.device} alias ${vlanAlias(kind, v.networkId)}`,
        `link set ${v.device} up`,
      ],
    });
  }
  const wanted = new Set(desired.endpoints.map((e) => e.key));
  for (const ep of desired.endpoints) {
    if (observed.healthy.has(ep.key)) {
      if (ep.defaultRoute !== undefined && !observed.routed.has(ep.key))
        steps.push({ netns: ep.netns, lines: [route(ep, ep.defaultRoute)] });
      continue;
    }
    if (observed.present.has(ep.key))
      steps.push({ netns: ep.netns, lines: [`link del ${ep.ifname}`], removal: true });
    steps.push(...endpointSteps(kind, ep));
  }
  for (const m of made)
    if (!wanted.has(m.key)) cleanup.push({ netns: m.netns, lines: [`link del ${m.ifname}`], removal: true });
  for (const device of observed.vlans.keys())
    if (!wantedVlans.has(device))
      cleanup.push({ netns: undefined, lines: [`link del ${device}`], removal: true });
  return desired.addOnly === true ? steps : [...steps, ...cleanup];
}

function route(ep: SubEndpoint, via: string): string {
  return via === "dev"
    ? `route replace default dev ${ep.ifname}`
    : `route replace default via ${via} dev ${ep.ifname}`;
}

function endpointSteps(kind: SubKind, ep: SubEndpoint): SubStep[] {
  const tmp = tempName(kind, ep.key);
  const inside = [
    `link set ${tmp} name ${ep.ifname}`,
    ...(ep.mac === "" ? [] : [`link set ${ep.ifname} address ${ep.mac}`]),
    ...(ep.mtu === 0 ? [] : [`link set ${ep.ifname} mtu ${ep.mtu}`]),
    `addr add ${ep.ip}/${ep.prefix} dev ${ep.ifname}`,
    `link set ${ep.ifname} up`,
    ...(ep.defaultRoute === undefined ? [] : [route(ep, ep.defaultRoute)]),
  ];
  return [
    {
      netns: undefined,
      lines: [
        `link add link ${ep.parent} name ${tmp} type ${kind} mode ${ep.mode}`,
        `link set ${tmp} netns ${ep.netns}`,
      ],
    },
    { netns: ep.netns, lines: inside },
  ];
}

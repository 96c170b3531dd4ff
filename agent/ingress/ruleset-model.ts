/**
 * Desired state → the model of the table `swarmnet`: which map/set elements exist and
 * which per-slot-count pick chains are needed. Pure; validates as it builds, so bad input
 * fails here with one clear line before anything touches the kernel.
 *
 * Shape (see `render.ts` for the text): static chains, the changing data in maps. The
 * DESIGN's measurement decided it: one chain per service with an anonymous numgen map
 * costs the kernel O(n²) (10,000 services ≈ 30 s), one named map keyed by
 * (port . slot) → backend applied 10,000 × 16 in ≈ 1 s. So a published port is one
 * element of a verdict map `(proto . port) → jump ingress_pick_N` plus N elements of
 * `(proto . port . slot) → backend . targetPort`; the chain `ingress_pick_N` holds one rule
 * `dnat to proto . port . numgen inc mod N map @ingress_backends`. There is one such chain
 * per distinct backend count N (not per service), so balancing is exact for any N, a
 * lookup is two hash lookups whatever the number of services, and applying scales with
 * the number of elements.
 *
 * The model is kept per *group* (one published port, one VIP, one host port, the egress
 * sets, the encrypted VNIs): each group carries a fingerprint of its input, so a rebuild
 * reuses unchanged groups as they are (no re-validation, no new strings) and the differ
 * compares only groups that changed — a one-backend change costs O(changed) plus an O(S)
 * walk over fingerprints, not O(S·B). Slots are sticky (`slots.ts`).
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { ConntrackFilter } from "../../common/executor.js";
import { cidrsOverlap, parseCidr, parseIpv4, type Cidr } from "../../common/net-addr.js";
import {
  DEFAULT_DATA_PATH_PORT,
  L4_PROTOCOLS,
  type L4Protocol,
  type MeshState,
  type ServiceVip,
  type VipPort,
} from "./mesh-state.js";
import { assignSlots } from "./slots.js";

export const TABLE_FAMILY = "ip";
export const TABLE_NAME = "swarmnet";

/** Every set and map of the table, in declaration order. */
export const SET_NAMES = [
  "ingress_ports",
  "ingress_backends",
  "vip_ports",
  "vip_port_backends",
  "vip_addrs",
  "vip_addr_backends",
  "local_ports",
  "addr_ports",
  "egress_sources",
  "egress_bridges",
  "encrypted_vnis",
] as const;
export type SetName = (typeof SET_NAMES)[number];

/** One element: `key` identifies it (and deletes it), `value` is the rest of its text. */
export interface Element {
  set: SetName;
  key: string;
  /** What follows the key when adding: `comment "…" : data`, ` : data`, or "" for a set. */
  value: string;
}

export interface Group {
  /** Unique per table; derived from the keys the group owns (e.g. `ingress tcp/8080`). */
  id: string;
  /** Everything in the input that shapes the elements; equal fingerprint → same group. */
  fingerprint: string;
  elements: readonly Element[];
  /** Pick chain the group's verdict-map entries jump to, if any. */
  pickChain: string | undefined;
  /** Backend per slot, for sticky slots in the next build. */
  slots: readonly string[] | undefined;
  /** Conntrack entries of each backend (deleted when that backend disappears). */
  flows: readonly ConntrackFilter[];
  /** Conntrack entries of the whole group, fewer filters (deleted when the group disappears). */
  groupFlows: readonly ConntrackFilter[];
  /** The port the group holds, if any. */
  claim: PortClaim | undefined;
  /** Who holds the claim, for conflict messages. */
  owner: string;
}

/** Values baked into static rules: a change re-renders the whole table. */
export interface RuleParams {
  ingressSource: string | undefined;
  dataPathPort: number;
}

export interface TableModel {
  params: RuleParams;
  groups: ReadonlyMap<string, Group>;
  /** Pick chain name → its one rule. */
  pickChains: ReadonlyMap<string, string>;
  elementCount: number;
}

/**
 * The slot travels in the packet mark (`meta mark set numgen inc mod N offset O`, then the
 * backends map is keyed by mark): plain named types, so nft needs no `typeof` and adds no
 * hidden protocol match (a `typeof … : ip daddr . tcp dport` map made nft 1.0.6 insert
 * `meta l4proto tcp` into the rule, and `th dport` there breaks incremental rule adds).
 * The mark of a connection's first packet therefore belongs to this table. Ingress slots
 * are offset by this bit, which postrouting matches to SNAT them; VIP slots are 0…N-1.
 */
export const INGRESS_MARK = 0x01000000;

/** What kind of pick chain, by the map it selects from. */
const PICK_RULES = {
  ingress_pick: (n: number) =>
    `meta mark set numgen inc mod ${n} offset ${hex(INGRESS_MARK)} dnat to meta l4proto . th dport . meta mark map @ingress_backends`,
  vip_port_pick: (n: number) =>
    `meta mark set numgen inc mod ${n} dnat to ip daddr . meta l4proto . th dport . meta mark map @vip_port_backends`,
  vip_addr_pick: (n: number) =>
    `meta mark set numgen inc mod ${n} dnat to ip daddr . meta mark map @vip_addr_backends`,
} as const;
type PickKind = keyof typeof PICK_RULES;

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;
const MAX_VNI = 0xffffff;

function invalid(where: string, message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, `${where}: ${message}`);
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function checkProtocol(where: string, v: unknown): L4Protocol {
  if (typeof v !== "string" || !(L4_PROTOCOLS as readonly string[]).includes(v))
    throw invalid(where, `protocol must be ${L4_PROTOCOLS.join(" or ")}, got ${show(v)}`);
  return v as L4Protocol;
}

function checkPort(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535)
    throw invalid(where, `${field} must be a port in 1..65535, got ${show(v)}`);
  return v;
}

function checkIp(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || parseIpv4(v) === undefined)
    throw invalid(where, `${field} must be an IPv4 address, got ${show(v)}`);
  return v;
}

function checkId(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || !ID_PATTERN.test(v))
    throw invalid(where, `${field} must be 1-64 letters, digits, . _ - , got ${show(v)}`);
  return v;
}

function checkBackends(where: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw invalid(where, `backends must be a list of IPv4 addresses`);
  const out = new Set<string>();
  v.forEach((b: unknown, i) => out.add(checkIp(where, `backends[${i}]`, b)));
  return [...out];
}

/** A port a group holds: on every local address (`addr` undefined) or on one. */
export interface PortClaim {
  addr: string | undefined;
  protocol: L4Protocol;
  port: number;
}

/** Which ports are taken; one on every address conflicts with the same port on any one. */
class PortClaims {
  private readonly everywhere = new Map<string, string>();
  private readonly onAddr = new Map<string, string>();
  private readonly anyAddr = new Map<string, string>();

  take(where: string, c: PortClaim, owner: string): void {
    const port = `${c.protocol}/${c.port}`;
    const taken =
      c.addr === undefined
        ? (this.everywhere.get(port) ?? this.anyAddr.get(port))
        : (this.everywhere.get(port) ?? this.onAddr.get(`${c.addr} ${port}`));
    if (taken !== undefined) {
      const on = c.addr === undefined ? "" : ` on ${c.addr}`;
      throw new SwarmnetError(
        ErrorCode.PortInUse,
        `${where}: ${c.protocol} port ${c.port}${on} is already published by ${taken}`,
      );
    }
    if (c.addr === undefined) this.everywhere.set(port, owner);
    else {
      this.onAddr.set(`${c.addr} ${port}`, owner);
      if (!this.anyAddr.has(port)) this.anyAddr.set(port, owner);
    }
  }
}

/**
 * Builds the model of `state`. With `previous` (the model last applied), unchanged groups
 * are reused and balanced groups keep their slots. Throws `SwarmnetError` (invalid
 * argument, port in use, conflict) naming the bad entry; never partially.
 */
export function buildModel(state: MeshState, previous?: TableModel): TableModel {
  const prev = previous?.groups;
  const groups = new Map<string, Group>();
  const claims = new PortClaims();
  const add = (where: string, g: Group): void => {
    if (g.claim !== undefined) claims.take(where, g.claim, g.owner);
    else if (groups.has(g.id))
      throw new SwarmnetError(ErrorCode.Conflict, `${where}: ${g.id} is given twice`);
    groups.set(g.id, g);
  };

  const ingressSource =
    state.ingressSource === undefined ? undefined : checkIp("ingressSource", "address", state.ingressSource);
  const dataPathPort =
    state.dataPathPort === undefined
      ? DEFAULT_DATA_PATH_PORT
      : checkPort("dataPathPort", "port", state.dataPathPort);

  (state.ingress ?? []).forEach((p, i) => {
    const where = `ingress[${i}]`;
    const protocol = checkProtocol(where, p.protocol);
    const port = checkPort(where, "publishedPort", p.publishedPort);
    const id = `ingress ${protocol}/${port}`;
    const fingerprint = `${String(p.serviceId)}|${String(p.targetPort)}|${backendsText(p.backends)}`;
    const old = prev?.get(id);
    add(where, old?.fingerprint === fingerprint ? old : ingressGroup(where, id, fingerprint, old, p));
  });

  (state.hostPorts ?? []).forEach((h, i) => {
    const where = `hostPorts[${i}]`;
    const protocol = checkProtocol(where, h.protocol);
    const port = checkPort(where, "publishedPort", h.publishedPort);
    const taskId = checkId(where, "taskId", h.taskId);
    const target = checkIp(where, "targetIp", h.targetIp);
    const targetPort = checkPort(where, "targetPort", h.targetPort);
    add(
      where,
      localGroup(undefined, protocol, port, target, targetPort, taskId, `task ${taskId} (host mode)`),
    );
  });

  (state.portMappings ?? []).forEach((m, i) => {
    const where = `portMappings[${i}]`;
    const protocol = checkProtocol(where, m.protocol);
    const port = checkPort(where, "hostPort", m.hostPort);
    const containerId = checkId(where, "containerId", m.containerId);
    const hostIp =
      m.hostIp === undefined || m.hostIp === "0.0.0.0" ? undefined : checkIp(where, "hostIp", m.hostIp);
    const target = checkIp(where, "containerIp", m.containerIp);
    const targetPort = checkPort(where, "containerPort", m.containerPort);
    add(
      where,
      localGroup(hostIp, protocol, port, target, targetPort, containerId, `container ${containerId}`),
    );
  });

  const vipsSeen = new Map<string, string>();
  (state.vips ?? []).forEach((v, i) => {
    const where = `vips[${i}]`;
    const vip = checkIp(where, "vip", v.vip);
    const serviceId = checkId(where, "serviceId", v.serviceId);
    const holder = vipsSeen.get(vip);
    if (holder !== undefined)
      throw new SwarmnetError(ErrorCode.Conflict, `${where}: VIP ${vip} is already the VIP of ${holder}`);
    vipsSeen.set(vip, `service ${serviceId} on ${String(v.network)}`);
    const id = `vip ${vip}`;
    const fingerprint = `${serviceId}|${String(v.network)}|${portsText(v.ports)}|${backendsText(v.backends)}`;
    const old = prev?.get(id);
    add(
      where,
      old?.fingerprint === fingerprint ? old : vipGroup(where, id, fingerprint, old, vip, serviceId, v),
    );
  });

  if (state.egress !== undefined) add("egress", egressGroup(state.egress.sourceCidrs, state.egress.bridges));
  if (state.encryptedVnis !== undefined && state.encryptedVnis.length > 0)
    add("encryptedVnis", encryptedGroup(state.encryptedVnis));

  const pickChains = new Map<string, string>();
  let elementCount = 0;
  for (const g of groups.values()) {
    elementCount += g.elements.length;
    if (g.pickChain !== undefined && !pickChains.has(g.pickChain))
      pickChains.set(g.pickChain, pickRule(g.pickChain));
  }
  return { params: { ingressSource, dataPathPort }, groups, pickChains, elementCount };
}

function backendsText(b: unknown): string {
  return Array.isArray(b) ? b.join(",") : String(b);
}

function portsText(ports: readonly VipPort[] | undefined): string {
  if (ports === undefined) return "*";
  return ports.map((p) => `${String(p.protocol)}/${String(p.port)}>${String(p.targetPort)}`).join(",");
}

function pickChainName(kind: PickKind, n: number): string {
  return `${kind}_${n}`;
}

function pickRule(name: string): string {
  const m = /^(.*)_(\d+)$/.exec(name);
  const kind = m?.[1] as PickKind | undefined;
  if (kind === undefined || !(kind in PICK_RULES)) throw new Error(`unknown pick chain ${name}`);
  return PICK_RULES[kind](Number(m?.[2]));
}

function comment(text: string): string {
  return ` comment "${text}"`;
}

function ingressGroup(
  where: string,
  id: string,
  fingerprint: string,
  old: Group | undefined,
  p: {
    serviceId: unknown;
    protocol: L4Protocol;
    publishedPort: number;
    targetPort: unknown;
    backends: unknown;
  },
): Group {
  const serviceId = checkId(where, "serviceId", p.serviceId);
  const targetPort = checkPort(where, "targetPort", p.targetPort);
  const slots = assignSlots(old?.slots, checkBackends(where, p.backends));
  const base = `${p.protocol} . ${p.publishedPort}`;
  const pickChain = slots.length === 0 ? undefined : pickChainName("ingress_pick", slots.length);
  const elements: Element[] = [];
  if (pickChain !== undefined)
    elements.push({ set: "ingress_ports", key: base, value: `${comment(serviceId)} : jump ${pickChain}` });
  slots.forEach((b, i) =>
    elements.push({
      set: "ingress_backends",
      key: `${base} . ${hex(INGRESS_MARK + i)}`,
      value: ` : ${b} . ${targetPort}`,
    }),
  );
  const flows = slots.map((b) => ({
    protocol: p.protocol,
    origDstPort: p.publishedPort,
    replySrc: b,
    replySrcPort: targetPort,
  }));
  return {
    id,
    fingerprint,
    elements,
    pickChain,
    slots,
    flows,
    groupFlows: [{ protocol: p.protocol, origDstPort: p.publishedPort }],
    claim: { addr: undefined, protocol: p.protocol, port: p.publishedPort },
    owner: `service ${serviceId}`,
  };
}

function vipGroup(
  where: string,
  id: string,
  fingerprint: string,
  old: Group | undefined,
  vip: string,
  serviceId: string,
  v: ServiceVip,
): Group {
  const rawPorts = v.ports;
  const slots = assignSlots(old?.slots, checkBackends(where, v.backends));
  const n = slots.length;
  const elements: Element[] = [];
  const flows: ConntrackFilter[] = [];
  const groupFlows: ConntrackFilter[] = [];
  let pickChain: string | undefined;
  if (rawPorts === undefined) {
    pickChain = n === 0 ? undefined : pickChainName("vip_addr_pick", n);
    if (pickChain !== undefined)
      elements.push({ set: "vip_addrs", key: vip, value: `${comment(serviceId)} : jump ${pickChain}` });
    slots.forEach((b, i) => {
      elements.push({ set: "vip_addr_backends", key: `${vip} . ${i}`, value: ` : ${b}` });
      flows.push({ origDst: vip, replySrc: b });
    });
    groupFlows.push({ origDst: vip });
  } else {
    if (!Array.isArray(rawPorts)) throw invalid(where, "ports must be a list");
    pickChain = n === 0 || rawPorts.length === 0 ? undefined : pickChainName("vip_port_pick", n);
    const seen = new Set<string>();
    rawPorts.forEach((p, j) => {
      const at = `${where}.ports[${j}]`;
      const protocol = checkProtocol(at, p.protocol);
      const port = checkPort(at, "port", p.port);
      const targetPort = p.targetPort === undefined ? port : checkPort(at, "targetPort", p.targetPort);
      const base = `${vip} . ${protocol} . ${port}`;
      if (seen.has(base)) throw invalid(at, `${protocol} port ${port} is given twice`);
      seen.add(base);
      groupFlows.push({ protocol, origDst: vip, origDstPort: port });
      if (pickChain !== undefined)
        elements.push({ set: "vip_ports", key: base, value: `${comment(serviceId)} : jump ${pickChain}` });
      slots.forEach((b, i) => {
        elements.push({ set: "vip_port_backends", key: `${base} . ${i}`, value: ` : ${b} . ${targetPort}` });
        flows.push({ protocol, origDst: vip, origDstPort: port, replySrc: b, replySrcPort: targetPort });
      });
    });
  }
  return {
    id,
    fingerprint,
    elements,
    pickChain,
    slots,
    flows,
    groupFlows,
    claim: undefined,
    owner: `service ${serviceId}`,
  };
}

function localGroup(
  hostIp: string | undefined,
  protocol: L4Protocol,
  port: number,
  target: string,
  targetPort: number,
  commentId: string,
  owner: string,
): Group {
  const key = hostIp === undefined ? `${protocol} . ${port}` : `${hostIp} . ${protocol} . ${port}`;
  const element: Element = {
    set: hostIp === undefined ? "local_ports" : "addr_ports",
    key,
    value: `${comment(commentId)} : ${target} . ${targetPort}`,
  };
  const flow: ConntrackFilter = { protocol, origDstPort: port, replySrc: target, replySrcPort: targetPort };
  if (hostIp !== undefined) flow.origDst = hostIp;
  return {
    id: hostIp === undefined ? `port ${protocol}/${port}` : `port ${hostIp} ${protocol}/${port}`,
    fingerprint: element.value,
    elements: [element],
    pickChain: undefined,
    slots: undefined,
    flows: [flow],
    groupFlows: [flow],
    claim: { addr: hostIp, protocol, port },
    owner,
  };
}

function egressGroup(sourceCidrs: readonly string[], bridges: readonly string[]): Group {
  const cidrs: Cidr[] = [];
  const elements: Element[] = [];
  if (!Array.isArray(sourceCidrs)) throw invalid("egress", "sourceCidrs must be a list");
  if (!Array.isArray(bridges)) throw invalid("egress", "bridges must be a list");
  for (const [i, text] of sourceCidrs.entries()) {
    const c = typeof text === "string" ? parseCidr(text) : undefined;
    if (c === undefined)
      throw invalid("egress", `sourceCidrs[${i}] must be an IPv4 CIDR like 172.18.0.0/16, got ${show(text)}`);
    if (cidrs.some((o) => o.network === c.network && o.prefix === c.prefix)) continue;
    if (cidrs.some((o) => cidrsOverlap(o, c)))
      throw invalid("egress", `sourceCidrs[${i}] ${text} overlaps another source`);
    cidrs.push(c);
    elements.push({ set: "egress_sources", key: text, value: "" });
  }
  for (const [i, name] of [...new Set(bridges)].entries()) {
    if (typeof name !== "string" || !IFNAME_PATTERN.test(name))
      throw invalid("egress", `bridges[${i}] must be an interface name, got ${show(name)}`);
    elements.push({ set: "egress_bridges", key: `"${name}"`, value: "" });
  }
  return {
    id: "egress",
    fingerprint: elements.map((e) => e.key).join(","),
    elements,
    pickChain: undefined,
    slots: undefined,
    flows: [],
    groupFlows: [],
    claim: undefined,
    owner: "egress",
  };
}

function encryptedGroup(vnis: readonly number[]): Group {
  if (!Array.isArray(vnis)) throw invalid("encryptedVnis", "must be a list of VNIs");
  const unique = [...new Set(vnis)];
  unique.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_VNI)
      throw invalid("encryptedVnis", `[${i}] must be a VNI in 1..${MAX_VNI}, got ${show(v)}`);
  });
  const elements = unique.map((v): Element => ({ set: "encrypted_vnis", key: String(v), value: "" }));
  return {
    id: "encrypted",
    fingerprint: unique.join(","),
    elements,
    pickChain: undefined,
    slots: undefined,
    flows: [],
    groupFlows: [],
    claim: undefined,
    owner: "encryption",
  };
}

/** The empty model: what a freshly flushed table holds. */
export function emptyModel(): TableModel {
  return buildModel({});
}

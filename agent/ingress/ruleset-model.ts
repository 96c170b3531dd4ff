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
 * that sets the slot, `numgen inc mod N`, and DNATs to `@ingress_backends[proto . port .
 * slot]`. There is one such chain per distinct backend count N (not per service), so
 * balancing is exact round robin for any N, a lookup is two hash lookups whatever the
 * number of services, and applying scales with the number of elements.
 *
 * The model is kept per *group* (one published port, one VIP, one host port, the egress
 * sets): each group remembers the input that shaped it, so a rebuild
 * reuses unchanged groups as they are (no re-validation, no new strings) and the differ
 * compares only groups that changed — a one-backend change costs O(changed) plus an O(S)
 * allocation-free comparison with the previous input, not O(S·B), and no new map of
 * every group (`replaceGroups`). Slots are sticky (`slots.ts`). Elements are stored
 * column-wise (one string per element, its text as added), and a backend's conntrack
 * filters are derived from the group's templates when needed: at 10,000 × 10 the first
 * build is dominated by garbage collection, so every object per backend counts.
 *
 * Long on purpose: validation, groups, slots and pick chains decide the table together;
 * the differ and renderer beside it stay small because of it.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { ConntrackFilter } from "../../common/executor.js";
import { cidrsOverlap, parseCidr, type Cidr } from "../../common/net-addr.js";
import {
  L4_PROTOCOLS,
  type L4Protocol,
  type IngressPublication,
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
] as const;
export type SetName = (typeof SET_NAMES)[number];

/** One element, as the differ hands it to the renderer. */
export interface Element {
  set: SetName;
  /** Identifies the element (and deletes it). */
  key: string;
  /** The element as added: the key, then ` comment "…"`, ` : data` or nothing. */
  text: string;
}

/** A group's elements, one column entry per element. */
export interface ElementColumns {
  sets: SetName[];
  texts: string[];
  /** Length of each text's key prefix. */
  keyLengths: number[];
}

export interface Group {
  /**
   * Unique per table, derived from the keys the group owns: the port it holds on every
   * address (`tcp/8080`: an ingress or a host/-p port, so two holders collide by id), on
   * one address (`1.2.3.4 tcp/80`), `vip 10.0.0.2`, `egress`.
   */
  id: string;
  /** Everything in the input that shapes the elements; equal fingerprint → same group. */
  fingerprint: string;
  /** Ingress groups: [serviceId, targetPort, ...backends] as given, compared without allocating. */
  input: readonly unknown[] | undefined;
  elements: ElementColumns;
  /** Pick chain the group's verdict-map entries jump to, if any. */
  pickChain: string | undefined;
  /** Backend per slot (the one target of a host/-p port), for sticky slots and conntrack. */
  slots: readonly string[] | undefined;
  /** Conntrack filters of one backend with `replySrc` left out (filled in per backend). */
  flowTemplates: readonly ConntrackFilter[];
  /** Conntrack entries of the whole group, fewer filters (deleted when the group disappears). */
  groupFlows: readonly ConntrackFilter[];
  /** The port the group holds, if any. */
  claim: PortClaim | undefined;
  /** Who holds the claim, for conflict messages. */
  owner: string;
}

function columns(): ElementColumns {
  return { sets: [], texts: [], keyLengths: [] };
}

function pushElement(c: ElementColumns, set: SetName, key: string, rest = ""): void {
  c.sets.push(set);
  c.texts.push(rest === "" ? key : key + rest);
  c.keyLengths.push(key.length);
}

/** The group's elements as objects (for the differ, on changed groups only). */
export function elementsOf(g: Group): Element[] {
  const { sets, texts, keyLengths } = g.elements;
  return texts.map((text, i) => ({
    set: sets[i] as SetName,
    key: text.slice(0, keyLengths[i]),
    text,
  }));
}

/** Conntrack filters of backend `b` in group `g`. */
export function flowsOf(g: Group, b: string): ConntrackFilter[] {
  return g.flowTemplates.map((t) => ({ ...t, replySrc: b }));
}

/** Values baked into static rules: a change re-renders the whole table. */
export interface RuleParams {
  ingressSource: string | undefined;
}

export interface TableModel {
  params: RuleParams;
  groups: GroupIndex;
  /** Pick chain name → its one rule. */
  pickChains: ReadonlyMap<string, string>;
  /** Pick chain name → how many groups jump to it. */
  pickChainUse: ReadonlyMap<string, number>;
  elementCount: number;
  /** The state the model was built from: the next build compares against it. */
  source: MeshState;
  /** Unique per model (in this process): what `delta.fromId` names. */
  id: number;
  /**
   * Set when built from model `fromId` by replacing groups (`buildModel`): the differ
   * looks at these only. An id, not the model: holding the model would keep every model
   * before it, and its whole input, alive (at 10,000 services ~140 KB a change).
   */
  delta?: { fromId: number; replaced: readonly (readonly [before: Group, after: Group])[] };
}

let lastModelId = 0;

/** The groups of a model by id: a Map, or a shared Map with a few replaced (`ReplacedGroups`). */
export interface GroupIndex {
  readonly size: number;
  get(id: string): Group | undefined;
  has(id: string): boolean;
  values(): Iterable<Group>;
  entries(): Iterable<[string, Group]>;
}

/**
 * A model's groups as the shared groups of an earlier model plus the few that replaced
 * some of them: a one-backend change at 10,000 services then costs no copy of 10,000
 * map entries (3–4 ms here). Nothing is mutated, so every model stays valid. Iterates in
 * the base's order; the ids are the base's (a replacement never adds or removes one).
 */
class ReplacedGroups implements GroupIndex {
  constructor(
    readonly base: ReadonlyMap<string, Group>,
    readonly replaced: ReadonlyMap<string, Group>,
  ) {}

  get size(): number {
    return this.base.size;
  }

  get(id: string): Group | undefined {
    return this.replaced.get(id) ?? this.base.get(id);
  }

  has(id: string): boolean {
    return this.base.has(id);
  }

  *values(): Iterable<Group> {
    for (const [id, g] of this.base) yield this.replaced.get(id) ?? g;
  }

  *entries(): Iterable<[string, Group]> {
    for (const [id, g] of this.base) yield [id, this.replaced.get(id) ?? g];
  }
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
/**
 * Postrouting tells an ingress slot's mark by its whole top byte, not by the one bit:
 * other owners' marks on this node's packets may set bit 24 too (the kernel ESP backend
 * marks its VXLAN packets 0x53574e43, agent/encryption/config.ts), and SNAT on them
 * rewrites their source after the ESP policy matched, so they left in plaintext.
 */
export const INGRESS_MARK_MASK = 0xff000000;

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

/** `hex(INGRESS_MARK + slot)`, cached: it is rendered once per backend. */
const slotMarks: string[] = [];
function ingressSlotMark(slot: number): string {
  return (slotMarks[slot] ??= hex(INGRESS_MARK + slot));
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;

function invalid(where: string, message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, `${where}: ${message}`);
}

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function checkProtocol(where: string, v: unknown): L4Protocol {
  if (v !== "tcp" && v !== "udp")
    throw invalid(where, `protocol must be ${L4_PROTOCOLS.join(" or ")}, got ${show(v)}`);
  return v as L4Protocol;
}

function checkPort(where: string, field: string, v: unknown): number {
  if (!isPort(v)) throw invalid(where, `${field} must be a port in 1..65535, got ${show(v)}`);
  return v;
}

/** A dotted quad as `parseIpv4` accepts it (no leading zeros); one regex: this runs per backend. */
const IPV4_PATTERN = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function checkIp(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || !IPV4_PATTERN.test(v))
    throw invalid(where, `${field} must be an IPv4 address, got ${show(v)}`);
  return v;
}

function checkId(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || !ID_PATTERN.test(v))
    throw invalid(where, `${field} must be 1-64 letters, digits, . _ - , got ${show(v)}`);
  return v;
}

/** Validates a backend list; duplicates are left to `assignSlots`, which drops them. */
function checkBackends(where: string, v: unknown): readonly string[] {
  if (!Array.isArray(v)) throw invalid(where, `backends must be a list of IPv4 addresses`);
  for (let i = 0; i < v.length; i++) {
    const b: unknown = v[i];
    if (typeof b !== "string" || !IPV4_PATTERN.test(b)) checkIp(where, `backends[${i}]`, b);
  }
  return v as readonly string[];
}

/** A port a group holds: on every local address (`addr` undefined) or on one. */
export interface PortClaim {
  addr: string | undefined;
  protocol: L4Protocol;
  port: number;
}

/** Group ids of ports held on every address, `tcp/8080`, made once per port. */
const PORT_IDS: Record<L4Protocol, string[]> = { tcp: [], udp: [] };

/** The id of (protocol, port) when both are valid, else undefined. */
function portId(protocol: unknown, port: unknown): string | undefined {
  if ((protocol !== "tcp" && protocol !== "udp") || !isPort(port)) return undefined;
  return (PORT_IDS[protocol][port] ??= `${protocol}/${port}`);
}

function isPort(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Throws the error that explains why (protocol, publishedPort) has no `portId`. */
function badPort(where: string, p: { protocol: unknown; publishedPort: unknown }): never {
  checkProtocol(where, p.protocol);
  checkPort(where, "publishedPort", p.publishedPort);
  throw new Error(`${where}: unreachable`);
}

/** Groups by id, refusing a second holder of a port (or of a VIP). */
class GroupTable {
  readonly groups = new Map<string, Group>();
  /** `proto/port` → holder of that port on some single address. */
  private readonly onOneAddr = new Map<string, Group>();

  /** Adds a group holding a port on every address if nothing holds it yet (no allocation). */
  tryAdd(g: Group): boolean {
    if (g.claim === undefined || g.claim.addr !== undefined) return false;
    if (this.groups.has(g.id) || this.onOneAddr.has(g.id)) return false;
    this.groups.set(g.id, g);
    return true;
  }

  add(where: string, g: Group): void {
    const c = g.claim;
    const anyAddr = c === undefined ? undefined : portId(c.protocol, c.port);
    const holder =
      this.groups.get(g.id) ??
      (c === undefined || anyAddr === undefined
        ? undefined
        : c.addr === undefined
          ? this.onOneAddr.get(anyAddr)
          : this.groups.get(anyAddr));
    if (holder !== undefined) {
      if (c === undefined)
        throw new SwarmnetError(ErrorCode.Conflict, `${where}: ${g.id} is already used by ${holder.owner}`);
      const on = c.addr === undefined ? "" : ` on ${c.addr}`;
      throw new SwarmnetError(
        ErrorCode.PortInUse,
        `${where}: ${c.protocol} port ${c.port}${on} is already published by ${holder.owner}`,
      );
    }
    this.groups.set(g.id, g);
    if (c?.addr !== undefined && anyAddr !== undefined && !this.onOneAddr.has(anyAddr))
      this.onOneAddr.set(anyAddr, g);
  }
}

/**
 * Builds the model of `state`. With `previous` (the model last applied), unchanged groups
 * are reused and balanced groups keep their slots. Throws `SwarmnetError` (invalid
 * argument, port in use, conflict) naming the bad entry; never partially.
 *
 * When only published ports' backends, target ports or owners changed since `previous`
 * (the common change: a task started or stopped somewhere), the model is `previous` with
 * those groups replaced (`replaceGroups`): O(S) comparisons that allocate nothing plus
 * O(changed) work, and no new map of every group. Anything else takes the whole walk.
 */
export function buildModel(state: MeshState, previous?: TableModel): TableModel {
  return (previous !== undefined && replaceGroups(state, previous)) || buildModelWhole(state, previous);
}

/** At most this many groups replaced in place per build; more take the whole walk. */
const MAX_REPLACED = 64;

/**
 * `previous` with the changed ingress groups replaced, or undefined when the change is of
 * another kind (a port added, removed or moved; anything but ingress changed). Every
 * ingress entry keeps its port, and everything else is equal, so no new conflict can
 * arise; a changed entry is validated as the whole walk would (same message, same order).
 */
function replaceGroups(state: MeshState, previous: TableModel): TableModel | undefined {
  const before = previous.source;
  if (state.ingressSource !== before.ingressSource || !sameOtherParts(state, before)) return undefined;
  const ingress = state.ingress ?? [];
  const was = before.ingress ?? [];
  if (ingress.length !== was.length) return undefined;
  const replaced: (readonly [Group, Group])[] = [];
  for (let i = 0; i < ingress.length; i++) {
    const p = ingress[i] as IngressPublication;
    const q = was[i] as IngressPublication;
    if (p === q) continue;
    if (p.protocol !== q.protocol || p.publishedPort !== q.publishedPort) return undefined;
    const id = portId(p.protocol, p.publishedPort) as string;
    const old = previous.groups.get(id) as Group;
    if (sameIngressInput(old, p)) continue;
    if (replaced.length === MAX_REPLACED) return undefined;
    replaced.push([old, ingressGroup(`ingress[${i}]`, id, old, p)]);
  }
  const use = new Map(previous.pickChainUse);
  let elementCount = previous.elementCount;
  for (const [old, g] of replaced) {
    if (old.pickChain !== undefined) use.set(old.pickChain, (use.get(old.pickChain) ?? 1) - 1);
    if (g.pickChain !== undefined) use.set(g.pickChain, (use.get(g.pickChain) ?? 0) + 1);
    elementCount += g.elements.texts.length - old.elements.texts.length;
  }
  for (const [name, n] of use) if (n === 0) use.delete(name);
  return {
    params: previous.params,
    groups: replaced.length === 0 ? previous.groups : withReplaced(previous.groups, replaced),
    pickChains: new Map([...use.keys()].map((name) => [name, pickRule(name)])),
    pickChainUse: use,
    elementCount,
    source: state,
    id: ++lastModelId,
    delta: { fromId: previous.id, replaced },
  };
}

/**
 * `groups` with `replaced` swapped in. The replacements accumulate over builds; past about
 * √S of them, one new Map of every group (O(S), once per √S changes) keeps lookups and
 * the next build's copy of the replacements small.
 */
function withReplaced(groups: GroupIndex, replaced: readonly (readonly [Group, Group])[]): GroupIndex {
  const base = groups instanceof ReplacedGroups ? groups.base : (groups as ReadonlyMap<string, Group>);
  const next = new Map(groups instanceof ReplacedGroups ? groups.replaced : []);
  for (const [, g] of replaced) next.set(g.id, g);
  const merged = new ReplacedGroups(base, next);
  return next.size > Math.max(32, Math.sqrt(base.size)) ? new Map(merged.entries()) : merged;
}

/** Host ports, `-p` mappings, VIPs and egress of `a` equal those of `b` (field by field). */
function sameOtherParts(a: MeshState, b: MeshState): boolean {
  const noVips = (a.vips ?? []).length === 0 && (b.vips ?? []).length === 0;
  return (
    (noVips || a.vips === b.vips) &&
    sameList(a.hostPorts, b.hostPorts, HOST_PORT_FIELDS) &&
    sameList(a.portMappings, b.portMappings, PORT_MAPPING_FIELDS) &&
    (a.egress === b.egress ||
      (a.egress !== undefined &&
        b.egress !== undefined &&
        sameStrings(a.egress.sourceCidrs, b.egress.sourceCidrs) &&
        sameStrings(a.egress.bridges, b.egress.bridges)))
  );
}

const HOST_PORT_FIELDS = ["taskId", "protocol", "publishedPort", "targetIp", "targetPort"] as const;
const PORT_MAPPING_FIELDS = [
  "containerId",
  "hostIp",
  "protocol",
  "hostPort",
  "containerIp",
  "containerPort",
] as const;

function sameList<T>(
  a: readonly T[] | undefined,
  b: readonly T[] | undefined,
  fields: readonly (keyof T)[],
): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++)
    for (const f of fields) if ((x[i] as T)[f] !== (y[i] as T)[f]) return false;
  return true;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((s, i) => s === b[i]);
}

/**
 * The whole walk: every entry validated, every group looked up (reused when unchanged)
 * and put in a new map, conflicts checked. `buildModel` takes it unless the change is a
 * replacement of ingress groups; tests compare the two.
 */
export function buildModelWhole(state: MeshState, previous?: TableModel): TableModel {
  const prev = previous?.groups;
  const table = new GroupTable();
  const groups = table.groups;
  const add = (where: string, g: Group): void => table.add(where, g);

  const ingressSource =
    state.ingressSource === undefined ? undefined : checkIp("ingressSource", "address", state.ingressSource);

  // The hot path of a one-backend change: S-1 unchanged services are checked and compared
  // in place, allocating nothing (the `where` text is only built for a new group or an error).
  const ingress = state.ingress ?? [];
  for (let i = 0; i < ingress.length; i++) {
    const p = ingress[i] as IngressPublication;
    const id = portId(p.protocol, p.publishedPort) ?? badPort(`ingress[${i}]`, p);
    const old = prev?.get(id);
    const g = old !== undefined && sameIngressInput(old, p) ? old : ingressGroup(`ingress[${i}]`, id, old, p);
    if (!table.tryAdd(g)) table.add(`ingress[${i}]`, g);
  }

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

  (state.vips ?? []).forEach((v, i) => {
    const where = `vips[${i}]`;
    const vip = checkIp(where, "vip", v.vip);
    const serviceId = checkId(where, "serviceId", v.serviceId);
    const id = `vip ${vip}`;
    const fingerprint = `${serviceId}|${String(v.network)}|${portsText(v.ports)}|${backendsText(v.backends)}`;
    const old = prev?.get(id);
    add(
      where,
      old?.fingerprint === fingerprint ? old : vipGroup(where, id, fingerprint, old, vip, serviceId, v),
    );
  });

  if (state.egress !== undefined) add("egress", egressGroup(state.egress.sourceCidrs, state.egress.bridges));

  const pickChains = new Map<string, string>();
  const pickChainUse = new Map<string, number>();
  let elementCount = 0;
  for (const g of groups.values()) {
    elementCount += g.elements.texts.length;
    if (g.pickChain === undefined) continue;
    const n = pickChainUse.get(g.pickChain);
    pickChainUse.set(g.pickChain, (n ?? 0) + 1);
    if (n === undefined) pickChains.set(g.pickChain, pickRule(g.pickChain));
  }
  return {
    params: { ingressSource },
    groups,
    pickChains,
    pickChainUse,
    elementCount,
    source: state,
    id: ++lastModelId,
  };
}

function backendsText(b: unknown): string {
  return Array.isArray(b) ? b.join(",") : String(b);
}

function sameIngressInput(
  g: Group,
  p: { serviceId: unknown; targetPort: unknown; backends: unknown },
): boolean {
  const input = g.input;
  const backends = p.backends;
  if (input === undefined || !Array.isArray(backends) || input.length !== backends.length + 2) return false;
  if (input[0] !== p.serviceId || input[1] !== p.targetPort) return false;
  for (let i = 0; i < backends.length; i++) if (input[i + 2] !== backends[i]) return false;
  return true;
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
  const elements = columns();
  if (pickChain !== undefined)
    pushElement(elements, "ingress_ports", base, `${comment(serviceId)} : jump ${pickChain}`);
  for (let i = 0; i < slots.length; i++) {
    const mark = ingressSlotMark(i);
    elements.sets.push("ingress_backends");
    elements.texts.push(`${base} . ${mark} : ${slots[i]} . ${targetPort}`);
    elements.keyLengths.push(base.length + 3 + mark.length);
  }
  return {
    id,
    fingerprint: "",
    input: [p.serviceId, p.targetPort, ...(p.backends as unknown[])],
    elements,
    pickChain,
    slots,
    flowTemplates: [{ protocol: p.protocol, origDstPort: p.publishedPort, replySrcPort: targetPort }],
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
  const elements = columns();
  const flowTemplates: ConntrackFilter[] = [];
  const groupFlows: ConntrackFilter[] = [];
  let pickChain: string | undefined;
  if (rawPorts === undefined) {
    pickChain = n === 0 ? undefined : pickChainName("vip_addr_pick", n);
    if (pickChain !== undefined)
      pushElement(elements, "vip_addrs", vip, `${comment(serviceId)} : jump ${pickChain}`);
    slots.forEach((b, i) => pushElement(elements, "vip_addr_backends", `${vip} . ${i}`, ` : ${b}`));
    flowTemplates.push({ origDst: vip });
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
      flowTemplates.push({ protocol, origDst: vip, origDstPort: port, replySrcPort: targetPort });
      if (pickChain !== undefined)
        pushElement(elements, "vip_ports", base, `${comment(serviceId)} : jump ${pickChain}`);
      slots.forEach((b, i) =>
        pushElement(elements, "vip_port_backends", `${base} . ${i}`, ` : ${b} . ${targetPort}`),
      );
    });
  }
  return {
    id,
    fingerprint,
    input: undefined,
    elements,
    pickChain,
    slots,
    flowTemplates,
    groupFlows,
    claim: undefined,
    owner: `service ${serviceId} on ${String(v.network)}`,
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
  const rest = `${comment(commentId)} : ${target} . ${targetPort}`;
  const elements = columns();
  pushElement(elements, hostIp === undefined ? "local_ports" : "addr_ports", key, rest);
  const template: ConntrackFilter = { protocol, origDstPort: port, replySrcPort: targetPort };
  if (hostIp !== undefined) template.origDst = hostIp;
  return {
    id: hostIp === undefined ? `${protocol}/${port}` : `${hostIp} ${protocol}/${port}`,
    fingerprint: rest,
    input: undefined,
    elements,
    pickChain: undefined,
    slots: [target],
    flowTemplates: [template],
    groupFlows: [{ ...template, replySrc: target }],
    claim: { addr: hostIp, protocol, port },
    owner,
  };
}

function egressGroup(sourceCidrs: readonly string[], bridges: readonly string[]): Group {
  const cidrs: Cidr[] = [];
  const elements = columns();
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
    pushElement(elements, "egress_sources", text);
  }
  for (const [i, name] of [...new Set(bridges)].entries()) {
    if (typeof name !== "string" || !IFNAME_PATTERN.test(name))
      throw invalid("egress", `bridges[${i}] must be an interface name, got ${show(name)}`);
    pushElement(elements, "egress_bridges", `"${name}"`);
  }
  return {
    id: "egress",
    fingerprint: elements.texts.join(","),
    input: undefined,
    elements,
    pickChain: undefined,
    slots: undefined,
    flowTemplates: [],
    groupFlows: [],
    claim: undefined,
    owner: "egress",
  };
}

/** The empty model: what a freshly flushed table holds. */
export function emptyModel(): TableModel {
  return buildModel({});
}

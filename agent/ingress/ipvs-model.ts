/**
 * The IPVS backend's pure half: desired state → the fwmark virtual services IPVS holds
 * and the marks nftables sets to reach them; the kernel's IPVS table read back from
 * `ipvsadm -S -n`; the difference between two tables as `ipvsadm --restore` lines.
 *
 * One fwmark virtual service per published port and per VIP port (or whole VIP), as
 * Docker's mesh does, because a mark is what both halves agree on: nftables knows
 * addresses and ports (the table `swarmnet_ipvs`, ipvs-marks.ts, maps them to a mark),
 * IPVS knows marks (`-A -f MARK -s rr`, the backends as masquerading real servers
 * `-a -f MARK -r IP:PORT -m -w 1`; port 0 keeps the packet's port, for a whole VIP).
 *
 * Marks: a published port's is computed, `0x01000000 | (udp ? 0x10000 : 0) | port`, so
 * it is the same on every node and after a restart, and its top byte is the one the
 * shared postrouting rule of table `swarmnet` SNATs to the ingress source (render.ts),
 * exactly as the nftables mesh's ingress slots. A VIP port's mark is allocated,
 * `0x02000000 + n` (the lowest n free, sticky while the VIP port exists): 32 bits hold no
 * address plus port, and its top byte is not SNATed. IPVS services with any other mark
 * are not ours and are never touched: owning a namespace's IPVS does not mean clearing it.
 *
 * Input is validated before this runs (ruleset-model.ts's `buildModel` over the whole
 * state: same rules and messages as the nftables backend); here it is only shaped.
 */
import type { IngressPublication, L4Protocol, MeshState, ServiceVip } from "./mesh-state.js";
import { INGRESS_MARK } from "./ruleset-model.js";
import { assignSlots } from "./slots.js";

/** Top byte of VIP marks; ingress marks use INGRESS_MARK's. */
export const VIP_MARK = 0x02000000;
const MARK_TOP = 0xff000000;
/** IPVS's round robin: Docker's scheduler, and the nftables mesh's `numgen inc`. */
export const SCHEDULER = "rr";
/** Masquerading (NAT), weight 1: how every real server of ours is added. */
export const REAL_SERVER_FLAGS = "-m -w 1";

/** The maps of table `swarmnet_ipvs`, by what they key on. */
export const MARK_MAPS = ["ingress_marks", "vip_port_marks", "vip_addr_marks"] as const;
export type MarkMap = (typeof MARK_MAPS)[number];

export interface MarkElement {
  map: MarkMap;
  /** The element's key as nft writes it: `tcp . 8080`, `10.0.0.2 . tcp . 80`, `10.0.0.2`. */
  key: string;
  mark: number;
}

export interface VirtualService {
  mark: number;
  /** `IP:PORT` of each real server, sorted numerically by address, no duplicates. */
  realServers: readonly string[];
  /** Who owns it, for logs: `service web tcp/8080`. */
  owner: string;
}

export interface IpvsModel {
  services: ReadonlyMap<number, VirtualService>;
  /** Every mark element, sorted by map then key. */
  marks: readonly MarkElement[];
  /** Allocated VIP marks: `10.0.0.2 tcp/80` or `10.0.0.2` → mark. */
  vipMarks: ReadonlyMap<string, number>;
}

/** A namespace's IPVS table as far as it concerns us: mark → scheduler and real servers (`IP:PORT` → flags). */
export type IpvsTable = Map<number, { scheduler: string; realServers: Map<string, string> }>;

/** True for marks this mesh owns (ingress or VIP top byte). */
export function ownsMark(mark: number): boolean {
  const top = (mark & MARK_TOP) >>> 0;
  return top === INGRESS_MARK || top === VIP_MARK;
}

export function ingressMark(protocol: L4Protocol, port: number): number {
  return INGRESS_MARK + (protocol === "udp" ? 0x10000 : 0) + port;
}

/** Desired (validated) state → model; `previous` keeps VIP marks where they were. */
export function buildIpvsModel(state: MeshState, previous?: IpvsModel): IpvsModel {
  const services = new Map<number, VirtualService>();
  const marks: MarkElement[] = [];
  for (const p of state.ingress ?? []) ingressService(p, services, marks);
  const vipMarks = allocateVipMarks(state.vips ?? [], previous?.vipMarks);
  for (const v of state.vips ?? []) vipServices(v, vipMarks, services, marks);
  marks.sort((a, b) => MARK_MAPS.indexOf(a.map) - MARK_MAPS.indexOf(b.map) || compareText(a.key, b.key));
  return { services, marks, vipMarks };
}

function ingressService(
  p: IngressPublication,
  services: Map<number, VirtualService>,
  marks: MarkElement[],
): void {
  const mark = ingressMark(p.protocol, p.publishedPort);
  services.set(mark, {
    mark,
    realServers: assignSlots(undefined, p.backends).map((b) => `${b}:${p.targetPort}`),
    owner: `service ${p.serviceId} ${p.protocol}/${p.publishedPort}`,
  });
  marks.push({ map: "ingress_marks", key: `${p.protocol} . ${p.publishedPort}`, mark });
}

function vipServices(
  v: ServiceVip,
  vipMarks: ReadonlyMap<string, number>,
  services: Map<number, VirtualService>,
  marks: MarkElement[],
): void {
  const backends = assignSlots(undefined, v.backends);
  if (v.ports === undefined) {
    const mark = vipMarks.get(v.vip) as number;
    services.set(mark, {
      mark,
      realServers: backends.map((b) => `${b}:0`),
      owner: `service ${v.serviceId} ${v.vip}`,
    });
    marks.push({ map: "vip_addr_marks", key: v.vip, mark });
    return;
  }
  for (const p of v.ports) {
    const mark = vipMarks.get(vipPortKey(v.vip, p.protocol, p.port)) as number;
    const target = p.targetPort ?? p.port;
    services.set(mark, {
      mark,
      realServers: backends.map((b) => `${b}:${target}`),
      owner: `service ${v.serviceId} ${v.vip} ${p.protocol}/${p.port}`,
    });
    marks.push({ map: "vip_port_marks", key: `${v.vip} . ${p.protocol} . ${p.port}`, mark });
  }
}

function vipPortKey(vip: string, protocol: L4Protocol, port: number): string {
  return `${vip} ${protocol}/${port}`;
}

/** Keys that stay keep their mark; new keys (in sorted order) take the lowest free ones. */
function allocateVipMarks(
  vips: readonly ServiceVip[],
  previous: ReadonlyMap<string, number> | undefined,
): Map<string, number> {
  const keys = vips.flatMap((v) =>
    v.ports === undefined ? [v.vip] : v.ports.map((p) => vipPortKey(v.vip, p.protocol, p.port)),
  );
  const out = new Map<string, number>();
  const used = new Set<number>();
  for (const k of keys) {
    const m = previous?.get(k);
    if (m !== undefined) {
      out.set(k, m);
      used.add(m);
    }
  }
  let next = VIP_MARK;
  for (const k of [...new Set(keys)].filter((k) => !out.has(k)).sort(compareText)) {
    while (used.has(next)) next++;
    out.set(k, next);
    used.add(next);
  }
  return out;
}

/** The table the model wants IPVS to hold. */
export function tableOf(model: IpvsModel): IpvsTable {
  const t: IpvsTable = new Map();
  for (const s of model.services.values())
    t.set(s.mark, {
      scheduler: SCHEDULER,
      realServers: new Map(s.realServers.map((r) => [r, REAL_SERVER_FLAGS])),
    });
  return t;
}

/**
 * Our part of `ipvsadm -S -n` output: lines `-A -f MARK -s SCHED …` and
 * `-a -f MARK -r IP:PORT FLAGS…`; services of other marks or kinds are left out.
 */
export function parseIpvsSave(text: string): IpvsTable {
  const t: IpvsTable = new Map();
  for (const line of text.split("\n")) {
    const w = line.trim().split(/\s+/);
    if (w[1] !== "-f") continue;
    const mark = Number(w[2]);
    if (!Number.isInteger(mark) || !ownsMark(mark)) continue;
    if (w[0] === "-A") {
      const s = w.indexOf("-s");
      const entry = t.get(mark) ?? { scheduler: "", realServers: new Map<string, string>() };
      entry.scheduler = s < 0 ? "" : (w[s + 1] ?? "");
      t.set(mark, entry);
    } else if (w[0] === "-a" && w[3] === "-r" && w[4] !== undefined) {
      const entry = t.get(mark) ?? { scheduler: "", realServers: new Map<string, string>() };
      entry.realServers.set(w[4], w.slice(5).join(" "));
      t.set(mark, entry);
    }
  }
  return t;
}

/** `ipvsadm --restore` lines from `current` to `desired`: adds and edits first, then deletes. */
export interface IpvsChange {
  /** `-A`, `-E`, `-a`, `-e`: run before the marks point at them. */
  adds: string[];
  /** `-d`, `-D`: run after the marks stopped pointing at them. */
  deletes: string[];
}

export function diffIpvs(current: IpvsTable, desired: IpvsTable): IpvsChange {
  const adds: string[] = [];
  const deletes: string[] = [];
  for (const mark of [...desired.keys()].sort((a, b) => a - b)) {
    const want = desired.get(mark) as { scheduler: string; realServers: Map<string, string> };
    const have = current.get(mark);
    if (have === undefined) adds.push(`-A -f ${mark} -s ${want.scheduler}`);
    else if (have.scheduler !== want.scheduler) adds.push(`-E -f ${mark} -s ${want.scheduler}`);
    for (const [rs, flags] of want.realServers) {
      const had = have?.realServers.get(rs);
      if (had === undefined) adds.push(`-a -f ${mark} -r ${rs} ${flags}`);
      else if (had !== flags) adds.push(`-e -f ${mark} -r ${rs} ${flags}`);
    }
    for (const rs of have?.realServers.keys() ?? [])
      if (!want.realServers.has(rs)) deletes.push(`-d -f ${mark} -r ${rs}`);
  }
  for (const mark of [...current.keys()].sort((a, b) => a - b))
    if (!desired.has(mark)) deletes.push(`-D -f ${mark}`);
  return { adds, deletes };
}

/** Real servers in a table (for sizes). */
export function realServerCount(t: IpvsTable): number {
  let n = 0;
  for (const s of t.values()) n += s.realServers.size;
  return n;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

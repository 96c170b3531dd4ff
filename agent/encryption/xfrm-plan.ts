/**
 * The kernel backend's plan: the exact set of ESP states and policies a node needs for
 * its encrypted peers and key ring, the difference to what is programmed, and that
 * difference rendered as `ip -batch` lines. Pure, so the whole state set of a cluster can
 * be checked against golden output without a kernel.
 *
 * What is programmed (ESP transport mode on the VXLAN UDP traffic, RFC 4303 + RFC 4106):
 *   - inbound, per peer and per key of the ring: a state src=peer dst=local, SPI
 *     spiFor(peer, local, tag), key deriveDirectionKey(secret, "esp", peer, local, tag);
 *   - outbound, per peer, for the primary key only: a state src=local dst=peer;
 *   - per peer one `dir out` policy: src local/32 dst peer/32 proto udp dport VXLAN (the
 *     cluster's data-path port: part of the policy's identity, so a new port adds the
 *     new policies before the old ones go), selected by the fwmark that the guard ruleset
 *     (nft-guard.ts) puts on encrypted VNIs' VXLAN packets, with a template naming the
 *     outbound state's SPI.
 * Extended sequence numbers (`flag esn`) make the sequence counter 64-bit, so it never
 * wraps between rotations however fast a node sends (moby#52005 was a 32-bit wrap).
 *
 * Batch order makes a rotation lossless inside a node: new states first (inbound before
 * outbound), then policies move to the new outbound SPI, then old policies and states go.
 * Across nodes the key schedule (key-schedule.ts) gives the time ordering.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { parseIpv4 } from "../../common/net-addr.js";
import { deriveDirectionKey } from "./key-derivation.js";
import { keyRoles, type KeyRing } from "./key-schedule.js";
import { formatSpi, spiFor } from "./spi.js";

export const ESP_AEAD = "rfc4106(gcm(aes))";
/** ICV length of the AEAD in bits (RFC 4106 allows 64, 96, 128; 128 is the strong one). */
export const ESP_ICV_BITS = 128;

export interface XfrmPeer {
  nodeName: string;
  underlayAddr: string;
}

export interface XfrmState {
  direction: "in" | "out";
  src: string;
  dst: string;
  spi: number;
  keyTag: number;
  /** 36 bytes: AES-256 key ‖ 4-byte salt. */
  key: Buffer;
}

export interface XfrmPolicy {
  src: string;
  dst: string;
  /** UDP destination port of the VXLAN traffic it selects. */
  dport: number;
  /** SPI of the outbound state the template names. */
  spi: number;
}

export interface XfrmSet {
  states: XfrmState[];
  policies: XfrmPolicy[];
}

export interface XfrmOptions {
  mark: number;
  reqid: number;
  replayWindow: number;
}

export interface XfrmPlanInput {
  localAddr: string;
  /** The VXLAN port the policies select (the cluster's data-path port). */
  vxlanPort: number;
  peers: readonly XfrmPeer[];
  ring: KeyRing | undefined;
}

export interface XfrmDiff {
  addStates: XfrmState[];
  deleteStates: XfrmState[];
  addPolicies: XfrmPolicy[];
  updatePolicies: XfrmPolicy[];
  deletePolicies: XfrmPolicy[];
}

export const EMPTY_XFRM_SET: XfrmSet = { states: [], policies: [] };

function addrOrder(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}

const stateId = (s: XfrmState): string => `${s.src}>${s.dst}#${s.spi}`;
const policyId = (p: XfrmPolicy): string => `${p.src}>${p.dst}:${p.dport}`;

/** Every state and policy the node needs; empty without keys or peers. */
export function desiredXfrm(input: XfrmPlanInput): XfrmSet {
  const { localAddr, ring } = input;
  if (ring === undefined || input.peers.length === 0) return { states: [], policies: [] };
  if (parseIpv4(localAddr) === undefined) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, `local underlay address ${localAddr} is not IPv4`);
  }
  const { primary } = keyRoles(ring);
  const peers = [...new Map(input.peers.map((p) => [p.underlayAddr, p])).values()].sort((a, b) =>
    addrOrder(a.underlayAddr, b.underlayAddr),
  );
  const states: XfrmState[] = [];
  const policies: XfrmPolicy[] = [];
  for (const peer of peers) {
    const remote = peer.underlayAddr;
    if (remote === localAddr) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `peer ${peer.nodeName} has this node's address ${remote}`,
      );
    }
    for (const k of ring.keys) {
      states.push({
        direction: "in",
        src: remote,
        dst: localAddr,
        spi: spiFor(remote, localAddr, k.tag),
        keyTag: k.tag,
        key: deriveDirectionKey(k.secret, "esp", remote, localAddr, k.tag),
      });
    }
    const outSpi = spiFor(localAddr, remote, primary.tag);
    states.push({
      direction: "out",
      src: localAddr,
      dst: remote,
      spi: outSpi,
      keyTag: primary.tag,
      key: deriveDirectionKey(primary.secret, "esp", localAddr, remote, primary.tag),
    });
    policies.push({ src: localAddr, dst: remote, dport: input.vxlanPort, spi: outSpi });
  }
  assertNoSpiCollision(states);
  return { states, policies };
}

/** The kernel finds an inbound state by (dst, SPI): two states sharing both are ambiguous. */
function assertNoSpiCollision(states: readonly XfrmState[]): void {
  const seen = new Map<string, XfrmState>();
  for (const s of states) {
    const id = `${s.dst}#${s.spi}`;
    const other = seen.get(id);
    if (other !== undefined) {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `SPI ${formatSpi(s.spi)} towards ${s.dst} derived twice (from ${other.src} tag ${other.keyTag} and ${s.src} tag ${s.keyTag}); rotate the keys`,
      );
    }
    seen.set(id, s);
  }
}

export function diffXfrm(current: XfrmSet, desired: XfrmSet): XfrmDiff {
  const curStates = new Map(current.states.map((s) => [stateId(s), s]));
  const newStates = new Map(desired.states.map((s) => [stateId(s), s]));
  const curPolicies = new Map(current.policies.map((p) => [policyId(p), p]));
  const newPolicies = new Map(desired.policies.map((p) => [policyId(p), p]));
  return {
    addStates: desired.states.filter((s) => !curStates.has(stateId(s))),
    deleteStates: current.states.filter((s) => !newStates.has(stateId(s))),
    addPolicies: desired.policies.filter((p) => !curPolicies.has(policyId(p))),
    updatePolicies: desired.policies.filter((p) => {
      const cur = curPolicies.get(policyId(p));
      return cur !== undefined && cur.spi !== p.spi;
    }),
    deletePolicies: current.policies.filter((p) => !newPolicies.has(policyId(p))),
  };
}

export function isEmptyDiff(d: XfrmDiff): boolean {
  return (
    d.addStates.length +
      d.deleteStates.length +
      d.addPolicies.length +
      d.updatePolicies.length +
      d.deletePolicies.length ===
    0
  );
}

function markArgs(o: XfrmOptions): string {
  return `mark 0x${o.mark.toString(16)} mask 0xffffffff`;
}

function selector(p: XfrmPolicy, o: XfrmOptions): string {
  return `src ${p.src}/32 dst ${p.dst}/32 proto udp dport ${p.dport} dir out ${markArgs(o)}`;
}

function policyLine(verb: "add" | "update", p: XfrmPolicy, o: XfrmOptions): string {
  return (
    `xfrm policy ${verb} ${selector(p, o)} ` +
    `tmpl src ${p.src} dst ${p.dst} proto esp spi ${formatSpi(p.spi)} reqid ${o.reqid} mode transport`
  );
}

function stateAddLine(s: XfrmState, o: XfrmOptions): string {
  return (
    `xfrm state add src ${s.src} dst ${s.dst} proto esp spi ${formatSpi(s.spi)} reqid ${o.reqid} ` +
    `mode transport replay-window ${o.replayWindow} flag esn ` +
    `aead ${ESP_AEAD} 0x${s.key.toString("hex")} ${ESP_ICV_BITS}`
  );
}

function stateDeleteLine(s: XfrmState): string {
  return `xfrm state delete src ${s.src} dst ${s.dst} proto esp spi ${formatSpi(s.spi)}`;
}

/**
 * `ip -batch` lines (without the leading `ip`) in the order that loses nothing: add
 * states (inbound first), add/update policies, delete policies, delete states.
 * The lines carry key bytes: they go to ip's stdin only, never to a log or argv.
 */
export function renderXfrmBatch(d: XfrmDiff, o: XfrmOptions): string[] {
  const inFirst = [...d.addStates].sort((a, b) =>
    a.direction === b.direction ? 0 : a.direction === "in" ? -1 : 1,
  );
  return [
    ...inFirst.map((s) => stateAddLine(s, o)),
    ...d.addPolicies.map((p) => policyLine("add", p, o)),
    ...d.updatePolicies.map((p) => policyLine("update", p, o)),
    ...d.deletePolicies.map((p) => `xfrm policy delete ${selector(p, o)}`),
    ...d.deleteStates.map(stateDeleteLine),
  ];
}

/** The same lines with key bytes replaced, for golden tests and error messages. */
export function redactXfrmBatch(lines: readonly string[]): string[] {
  return lines.map((l) => l.replace(/ 0x[0-9a-f]{72} /, " 0x<key> "));
}

/**
 * Our policies in `ip xfrm policy list` output (those carrying our mark), as delete
 * lines: `ip xfrm policy deleteall` cannot filter by mark, so a restart that finds stale
 * policies of ours removes them one by one and leaves everyone else's alone.
 */
export function staleOurPolicyDeletes(listing: string, o: XfrmOptions): string[] {
  return ourOutPolicies(listing, o).map(
    (p) => `xfrm policy delete src ${p.src} dst ${p.dst} proto udp dport ${p.dport} dir out ${markArgs(o)}`,
  );
}

/**
 * Our outbound policies (by mark) in an `ip xfrm policy list` listing; `src` and `dst`
 * as the listing prints them (with their /32).
 */
export function ourOutPolicies(
  listing: string,
  o: XfrmOptions,
): { src: string; dst: string; dport: number }[] {
  const ours = `mark 0x${o.mark.toString(16)}/0xffffffff`;
  const out: { src: string; dst: string; dport: number }[] = [];
  for (const block of listing.split(/\n(?=src )/)) {
    const head = /^src (\S+) dst (\S+) proto udp dport (\d+)/.exec(block.trim());
    if (head === null || !block.includes(ours) || !/\bdir out\b/.test(block)) continue;
    out.push({ src: head[1] as string, dst: head[2] as string, dport: Number(head[3]) });
  }
  return out;
}

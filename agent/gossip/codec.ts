/**
 * The gossip wire codec: proto/gossip.proto (package swarmnet.v1) in and out.
 *
 * Outbound, a packet is assembled from messages that are already encoded (a broadcast is
 * encoded once when queued and then sent many times), so the codec writes the
 * GossipCompound and GossipPacket framing itself — field tag, varint length, bytes — which
 * is byte-for-byte what protobuf would write for `repeated GossipMessage messages = 1`
 * and the envelope's fields. Plaintext packets are built in one allocation.
 *
 * Inbound, `openPacket` is the one gate every datagram and stream frame passes:
 * size → envelope → version → cluster label → decryption → compound. Anything that fails
 * a step is dropped with a reason the caller counts; nothing in here throws to the
 * caller. Packet overhead (envelope, nonce, tag) is computed exactly so compound messages
 * never exceed the packet budget.
 *
 * Long on purpose: one exhaustive switch per message type, the wire in one file (its
 * enum numbers are the protocol).
 */
import type protobuf from "protobufjs";
import { protoType } from "../../common/proto.js";
import type { Keyring } from "./keyring.js";
import { NONCE_BYTES, TAG_BYTES } from "./keyring.js";

/** Bumped only for an incompatible change; a packet of another version is dropped. */
export const GOSSIP_PROTOCOL_VERSION = 1;

export type MemberState = "alive" | "suspect" | "dead" | "left";

/** GossipMemberState numbers: only append, the numbers are the protocol. */
const STATE_TO_WIRE: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const WIRE_TO_STATE: readonly MemberState[] = ["alive", "suspect", "dead", "left"];

export interface PingMsg {
  seq: number;
  node: string;
  sourceNode: string;
  sourceAddr: string;
}
export interface IndirectPingMsg {
  seq: number;
  node: string;
  nodeAddr: string;
  nack: boolean;
  sourceNode: string;
  sourceAddr: string;
}
export interface AckMsg {
  seq: number;
  payload: Uint8Array;
}
export interface NackMsg {
  seq: number;
}
export interface AliveMsg {
  incarnation: number;
  node: string;
  addr: string;
  meta: Uint8Array;
}
export interface SuspectMsg {
  incarnation: number;
  node: string;
  from: string;
}
export interface DeadMsg {
  incarnation: number;
  node: string;
  from: string;
}
export interface PushPullNode {
  name: string;
  addr: string;
  meta: Uint8Array;
  incarnation: number;
  state: MemberState;
}
export interface PushPullMsg {
  join: boolean;
  nodes: PushPullNode[];
  userState: Uint8Array;
  sourceNode: string;
}

export type GossipMessage =
  | { kind: "ping"; ping: PingMsg }
  | { kind: "indirectPing"; indirectPing: IndirectPingMsg }
  | { kind: "ack"; ack: AckMsg }
  | { kind: "nack"; nack: NackMsg }
  | { kind: "alive"; alive: AliveMsg }
  | { kind: "suspect"; suspect: SuspectMsg }
  | { kind: "dead"; dead: DeadMsg }
  | { kind: "user"; user: Uint8Array }
  | { kind: "pushPull"; pushPull: PushPullMsg }
  | { kind: "error"; error: string };

export type DropReason =
  "oversized" | "truncated" | "malformed" | "version" | "label" | "unauthenticated" | "unexpected";

export const DROP_REASONS: readonly DropReason[] = [
  "oversized",
  "truncated",
  "malformed",
  "version",
  "label",
  "unauthenticated",
  "unexpected",
];

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

let types: { message: protobuf.Type; compound: protobuf.Type; packet: protobuf.Type } | undefined;

function wire(): { message: protobuf.Type; compound: protobuf.Type; packet: protobuf.Type } {
  types ??= {
    message: protoType("GossipMessage"),
    compound: protoType("GossipCompound"),
    packet: protoType("GossipPacket"),
  };
  return types;
}

// ------------------------------------------------------------------ messages

/** Encodes one message (the unit the broadcast queue holds). */
export function encodeMessage(msg: GossipMessage): Uint8Array {
  let payload: Record<string, unknown>;
  switch (msg.kind) {
    case "pushPull":
      payload = {
        pushPull: {
          ...msg.pushPull,
          nodes: msg.pushPull.nodes.map((n) => ({ ...n, state: STATE_TO_WIRE[n.state] })),
        },
      };
      break;
    case "ping":
      payload = { ping: msg.ping };
      break;
    case "indirectPing":
      payload = { indirectPing: msg.indirectPing };
      break;
    case "ack":
      payload = { ack: msg.ack };
      break;
    case "nack":
      payload = { nack: msg.nack };
      break;
    case "alive":
      payload = { alive: msg.alive };
      break;
    case "suspect":
      payload = { suspect: msg.suspect };
      break;
    case "dead":
      payload = { dead: msg.dead };
      break;
    case "user":
      payload = { user: msg.user };
      break;
    case "error":
      payload = { error: msg.error };
      break;
  }
  return wire().message.encode(payload).finish();
}

/** The shape protobufjs hands back (unset oneof members read as null). */
interface RawMessage {
  kind?: string;
  ping?: PingMsg;
  indirectPing?: IndirectPingMsg;
  ack?: { seq: number; payload: unknown };
  nack?: NackMsg;
  alive?: { incarnation: number; node: string; addr: string; meta: unknown };
  suspect?: SuspectMsg;
  dead?: DeadMsg;
  user?: unknown;
  pushPull?: {
    join: boolean;
    nodes: { name: string; addr: string; meta: unknown; incarnation: number; state: number }[];
    userState: unknown;
    sourceNode: string;
  };
  error?: string;
}

function bytes(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : EMPTY_BYTES;
}

/** Turns a decoded message into the typed union; undefined for an empty or unknown kind. */
function fromRaw(raw: RawMessage): GossipMessage | undefined {
  switch (raw.kind) {
    case "ping":
      return raw.ping ? { kind: "ping", ping: raw.ping } : undefined;
    case "indirectPing":
      return raw.indirectPing ? { kind: "indirectPing", indirectPing: raw.indirectPing } : undefined;
    case "ack":
      return raw.ack
        ? { kind: "ack", ack: { seq: raw.ack.seq, payload: bytes(raw.ack.payload) } }
        : undefined;
    case "nack":
      return raw.nack ? { kind: "nack", nack: raw.nack } : undefined;
    case "alive": {
      const a = raw.alive;
      if (!a) return undefined;
      return {
        kind: "alive",
        alive: { incarnation: a.incarnation, node: a.node, addr: a.addr, meta: bytes(a.meta) },
      };
    }
    case "suspect":
      return raw.suspect ? { kind: "suspect", suspect: raw.suspect } : undefined;
    case "dead":
      return raw.dead ? { kind: "dead", dead: raw.dead } : undefined;
    case "user":
      return { kind: "user", user: bytes(raw.user) };
    case "pushPull": {
      const p = raw.pushPull;
      if (!p) return undefined;
      const nodes: PushPullNode[] = [];
      for (const n of p.nodes) {
        const state = WIRE_TO_STATE[n.state];
        if (state === undefined) return undefined;
        nodes.push({ name: n.name, addr: n.addr, meta: bytes(n.meta), incarnation: n.incarnation, state });
      }
      return {
        kind: "pushPull",
        pushPull: { join: p.join, nodes, userState: bytes(p.userState), sourceNode: p.sourceNode },
      };
    }
    case "error":
      return { kind: "error", error: raw.error ?? "" };
    default:
      return undefined;
  }
}

/** Decodes one message; undefined when malformed. */
export function decodeMessage(buf: Uint8Array): GossipMessage | undefined {
  try {
    return fromRaw(wire().message.decode(buf) as unknown as RawMessage);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ framing

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** Bytes a message of `length` bytes takes inside a GossipCompound (tag + length + body). */
export function compoundEntryCost(length: number): number {
  return 1 + varintSize(length) + length;
}

function compoundSize(parts: readonly Uint8Array[]): number {
  let size = 0;
  for (const p of parts) size += compoundEntryCost(p.length);
  return size;
}

function writeCompound(buf: Uint8Array, offset: number, parts: readonly Uint8Array[]): number {
  for (const p of parts) {
    buf[offset++] = 0x0a; // field 1, length-delimited
    offset = writeVarint(buf, offset, p.length);
    buf.set(p, offset);
    offset += p.length;
  }
  return offset;
}

/** What a sender needs to wrap messages into packets. */
export interface PacketSealer {
  /** UTF-8 bytes of the cluster label (may be empty). */
  label: Uint8Array;
  keyring: Keyring | undefined;
}

const TAG_VERSION = 0x08; // field 1, varint
const TAG_LABEL = 0x12; // field 2, length-delimited
const TAG_NONCE = 0x1a; // field 3
const TAG_BODY = 0x22; // field 4

/**
 * Envelope bytes a packet adds around a compound body of at most `bodyBytes` — used to
 * turn the packet budget into a compound budget.
 */
export function packetOverhead(sealer: PacketSealer, bodyBytes: number): number {
  let size = 2; // version 1 fits one varint byte
  if (sealer.label.length > 0) size += 1 + varintSize(sealer.label.length) + sealer.label.length;
  const encrypted = sealer.keyring?.enabled === true;
  if (encrypted) size += 1 + 1 + NONCE_BYTES;
  const sealedBody = bodyBytes + (encrypted ? TAG_BYTES : 0);
  size += 1 + varintSize(sealedBody) + (encrypted ? TAG_BYTES : 0);
  return size;
}

/** Wraps already encoded messages into one packet (or stream frame). */
export function sealPacket(sealer: PacketSealer, parts: readonly Uint8Array[]): Uint8Array {
  const bodySize = compoundSize(parts);
  const label = sealer.label;
  const labelSize = label.length > 0 ? 1 + varintSize(label.length) + label.length : 0;
  const keyring = sealer.keyring;
  if (keyring === undefined || !keyring.enabled) {
    const out = Buffer.allocUnsafe(2 + labelSize + 1 + varintSize(bodySize) + bodySize);
    let o = 0;
    out[o++] = TAG_VERSION;
    out[o++] = GOSSIP_PROTOCOL_VERSION;
    if (labelSize > 0) {
      out[o++] = TAG_LABEL;
      o = writeVarint(out, o, label.length);
      out.set(label, o);
      o += label.length;
    }
    out[o++] = TAG_BODY;
    o = writeVarint(out, o, bodySize);
    writeCompound(out, o, parts);
    return out;
  }
  const body = Buffer.allocUnsafe(bodySize);
  writeCompound(body, 0, parts);
  const { nonce, ciphertext } = keyring.seal(body, label);
  const out = Buffer.allocUnsafe(
    2 + labelSize + 2 + nonce.length + 1 + varintSize(ciphertext.length) + ciphertext.length,
  );
  let o = 0;
  out[o++] = TAG_VERSION;
  out[o++] = GOSSIP_PROTOCOL_VERSION;
  if (labelSize > 0) {
    out[o++] = TAG_LABEL;
    o = writeVarint(out, o, label.length);
    out.set(label, o);
    o += label.length;
  }
  out[o++] = TAG_NONCE;
  out[o++] = nonce.length;
  out.set(nonce, o);
  o += nonce.length;
  out[o++] = TAG_BODY;
  o = writeVarint(out, o, ciphertext.length);
  out.set(ciphertext, o);
  return out;
}

/** What a receiver checks packets against. */
export interface PacketOpener {
  label: string;
  /** UTF-8 bytes of `label` (the AES-GCM associated data). */
  labelBytes: Uint8Array;
  keyring: Keyring | undefined;
  maxBytes: number;
}

export type Opened = { ok: true; messages: GossipMessage[] } | { ok: false; reason: DropReason };

interface RawPacket {
  version: number;
  clusterLabel: string;
  nonce: unknown;
  body: unknown;
}

/** The inbound gate: every datagram and stream frame passes here. Never throws. */
export function openPacket(opener: PacketOpener, data: Uint8Array): Opened {
  if (data.length > opener.maxBytes) return { ok: false, reason: "oversized" };
  let raw: RawPacket;
  try {
    raw = wire().packet.decode(data) as unknown as RawPacket;
  } catch (err) {
    return { ok: false, reason: isTruncation(err) ? "truncated" : "malformed" };
  }
  if (raw.version !== GOSSIP_PROTOCOL_VERSION) return { ok: false, reason: "version" };
  if (raw.clusterLabel !== opener.label) return { ok: false, reason: "label" };
  const nonce = bytes(raw.nonce);
  let body = bytes(raw.body);
  const keyring = opener.keyring;
  if (keyring !== undefined && keyring.enabled) {
    // An encrypting member accepts only packets it can authenticate.
    if (nonce.length === 0) return { ok: false, reason: "unauthenticated" };
    const opened = keyring.open(nonce, body, opener.labelBytes);
    if (opened === undefined) return { ok: false, reason: "unauthenticated" };
    body = opened;
  } else if (nonce.length > 0) {
    return { ok: false, reason: "unauthenticated" };
  }
  let rawMessages: RawMessage[];
  try {
    rawMessages = (wire().compound.decode(body) as unknown as { messages: RawMessage[] }).messages;
  } catch (err) {
    return { ok: false, reason: isTruncation(err) ? "truncated" : "malformed" };
  }
  if (rawMessages.length === 0) return { ok: false, reason: "malformed" };
  const messages: GossipMessage[] = [];
  for (const r of rawMessages) {
    const m = fromRaw(r);
    if (m === undefined) return { ok: false, reason: "malformed" };
    messages.push(m);
  }
  return { ok: true, messages };
}

/** protobufjs reports reading past the end as a RangeError "index out of range". */
function isTruncation(err: unknown): boolean {
  return err instanceof RangeError && /index out of range/.test(err.message);
}

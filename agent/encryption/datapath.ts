/**
 * The user-space encrypted datapath's core: frames from the relay device become sealed
 * records for a peer; records from peers become frames injected back into the node. No
 * I/O of its own — the process around it (datapath-process.ts) feeds frames and records
 * in and hands out what to send and write through `DatapathIo` — so unit tests run two
 * of them back to back in memory.
 *
 * Per peer it keeps the derived send key of the primary tag and, per accepted tag, the
 * receive key with its own replay window. A new key ring or peer list keeps the windows
 * of every (peer, tag) that stays, so a rotation never reopens a window to replays; a
 * tag that leaves the ring is no longer accepted at all.
 *
 * Every record or frame that is not carried is dropped and counted under one reason;
 * nothing is logged per packet.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { parseIpv4 } from "../../common/net-addr.js";
import { deriveDirectionKey } from "./key-derivation.js";
import type { NonceSequence } from "./nonce.js";
import {
  MAX_RECORD_BYTES,
  RECORD_OVERHEAD_BYTES,
  openRecord,
  parseRecord,
  recordHeader,
  sealRecord,
} from "./record-codec.js";
import { VNET_HDR_BYTES, injectHeaders, parseRelayFrame } from "./relay-frame.js";
import { ReplayWindow } from "./replay-window.js";

export interface DatapathIo {
  /** Sends one record (the buffers concatenated) to the peer's datapath. */
  sendRecord(parts: readonly Buffer[], peerUnderlayAddr: string): void;
  /** Writes one frame (the buffers concatenated) into the relay device. */
  writeFrame(parts: readonly Buffer[]): void;
}

export interface DatapathKey {
  tag: number;
  secret: Uint8Array;
}

export interface DatapathPeer {
  underlayAddr: string;
  relayAddr: string;
}

export interface DatapathOptions {
  localAddr: string;
  /** The VXLAN port frames must carry to be sealed and injected ones go to; setVxlanPort changes it. */
  vxlanPort: number;
  replayWindow: number;
  /** MAC of the node-side relay device and of the tap, for injected frames. */
  nodeMac: Buffer;
  tapMac: Buffer;
  nonce: NonceSequence;
}

/** Counter names are reported by `stats()`; stable, scripts read them. */
export const DATAPATH_COUNTERS = [
  "framesOut",
  "bytesOut",
  "recordsIn",
  "bytesIn",
  /** Frame from the relay device that is not an IPv4/UDP VXLAN datagram (e.g. the wake-up). */
  "dropNotVxlan",
  /** Frame for a relay address that names no current peer. */
  "dropNoPeer",
  /** Frame while there is no primary key. */
  "dropNoKey",
  /** Frame too big for one record. */
  "dropOversize",
  /** Datagram that is not a well-formed record. */
  "dropMalformed",
  /** Record from an address that is not a current peer. */
  "dropUnknownSource",
  /** Record under a key tag not in the ring (e.g. a rotated-out key). */
  "dropUnknownKey",
  /** Record that fails authentication. */
  "dropAuth",
  /** Record whose sequence number was already accepted or is older than the window. */
  "dropReplay",
  /** Frame or record whose offsets or lengths are inconsistent. */
  "dropBadFrame",
  /** Sends the kernel refused (e.g. the socket buffer was full). */
  "sendErrors",
  /** Frames the relay device refused. */
  "writeErrors",
] as const;

export type DatapathCounter = (typeof DATAPATH_COUNTERS)[number];
export type DatapathCounters = Record<DatapathCounter, number>;

interface RxKey {
  key: KeyObject;
  window: ReplayWindow;
}

interface PeerState {
  underlayAddr: string;
  relay: number;
  tx: { tag: number; key: KeyObject } | undefined;
  rx: Map<number, RxKey>;
}

export function zeroCounters(): DatapathCounters {
  return Object.fromEntries(DATAPATH_COUNTERS.map((c) => [c, 0])) as DatapathCounters;
}

export class Datapath {
  readonly counters: DatapathCounters = zeroCounters();
  private keys: DatapathKey[] = [];
  private primaryTag: number | undefined;
  private peerList: DatapathPeer[] = [];
  private readonly byRelay = new Map<number, PeerState>();
  private readonly byUnderlay = new Map<string, PeerState>();
  private readonly local: number;
  private vxlanPort: number;

  constructor(
    private readonly o: DatapathOptions,
    private readonly io: DatapathIo,
  ) {
    this.local = parseIpv4(o.localAddr) ?? 0;
    this.vxlanPort = o.vxlanPort;
  }

  /** The cluster's data-path port, once the agent knows it or when it changes. */
  setVxlanPort(port: number): void {
    this.vxlanPort = port;
  }

  setKeys(keys: readonly DatapathKey[], primaryTag: number): void {
    this.keys = keys.map((k) => ({ tag: k.tag, secret: k.secret }));
    this.primaryTag = primaryTag;
    this.rebuild();
  }

  setPeers(peers: readonly DatapathPeer[]): void {
    this.peerList = peers.map((p) => ({ underlayAddr: p.underlayAddr, relayAddr: p.relayAddr }));
    this.rebuild();
  }

  /** Recomputes per-peer keys, keeping the replay window of every (peer, tag) that stays. */
  private rebuild(): void {
    const old = new Map(this.byUnderlay);
    this.byRelay.clear();
    this.byUnderlay.clear();
    const local = this.o.localAddr;
    for (const p of this.peerList) {
      const relay = parseIpv4(p.relayAddr);
      if (relay === undefined || parseIpv4(p.underlayAddr) === undefined) continue;
      const before = old.get(p.underlayAddr);
      const rx = new Map<number, RxKey>();
      for (const k of this.keys) {
        rx.set(k.tag, {
          key: createSecretKey(deriveDirectionKey(k.secret, "udp", p.underlayAddr, local, k.tag)),
          window: before?.rx.get(k.tag)?.window ?? new ReplayWindow(this.o.replayWindow),
        });
      }
      const primary = this.keys.find((k) => k.tag === this.primaryTag);
      const tx =
        primary === undefined
          ? undefined
          : {
              tag: primary.tag,
              key: createSecretKey(
                deriveDirectionKey(primary.secret, "udp", local, p.underlayAddr, primary.tag),
              ),
            };
      const state: PeerState = { underlayAddr: p.underlayAddr, relay, tx, rx };
      this.byRelay.set(relay, state);
      this.byUnderlay.set(p.underlayAddr, state);
    }
  }

  /** A frame read from the relay device (`len` bytes of `buf`, virtio-net header first). */
  onFrame(buf: Buffer, len: number): void {
    const f = parseRelayFrame(buf, len, this.vxlanPort);
    if (typeof f === "string") {
      if (f === "not-ipv4-udp" || f === "not-vxlan") this.counters.dropNotVxlan++;
      else this.counters.dropBadFrame++;
      return;
    }
    const peer = this.byRelay.get(f.dst);
    if (peer === undefined) {
      this.counters.dropNoPeer++;
      return;
    }
    if (peer.tx === undefined) {
      this.counters.dropNoKey++;
      return;
    }
    const payloadBytes = len - f.payloadOffset;
    if (RECORD_OVERHEAD_BYTES + VNET_HDR_BYTES + payloadBytes > MAX_RECORD_BYTES) {
      this.counters.dropOversize++;
      return;
    }
    const header = recordHeader(peer.tx.tag, (b, off) => this.o.nonce.write(b, off));
    const parts = sealRecord(peer.tx.key, header, [f.vnet, buf.subarray(f.payloadOffset, len)]);
    this.io.sendRecord(parts, peer.underlayAddr);
    this.counters.framesOut++;
    this.counters.bytesOut += payloadBytes;
  }

  /** A datagram received on the data port from `srcAddr`. */
  onRecord(msg: Buffer, srcAddr: string): void {
    const r = parseRecord(msg);
    if (r === undefined) {
      this.counters.dropMalformed++;
      return;
    }
    const peer = this.byUnderlay.get(srcAddr);
    if (peer === undefined) {
      this.counters.dropUnknownSource++;
      return;
    }
    const rx = peer.rx.get(r.keyTag);
    if (rx === undefined) {
      this.counters.dropUnknownKey++;
      return;
    }
    if (rx.window.check(r.counter) !== "ok") {
      this.counters.dropReplay++;
      return;
    }
    const plain = openRecord(rx.key, r);
    if (plain === undefined || plain.length < VNET_HDR_BYTES) {
      this.counters.dropAuth++;
      return;
    }
    // Authenticated: only now may the window move.
    rx.window.commit(r.counter);
    const payloadBytes = plain.length - VNET_HDR_BYTES;
    const headers = injectHeaders(plain.subarray(0, VNET_HDR_BYTES), payloadBytes, {
      dstMac: this.o.nodeMac,
      srcMac: this.o.tapMac,
      src: peer.relay,
      dst: this.local,
      vxlanPort: this.vxlanPort,
    });
    if (headers === undefined) {
      this.counters.dropBadFrame++;
      return;
    }
    this.io.writeFrame([headers, plain.subarray(VNET_HDR_BYTES)]);
    this.counters.recordsIn++;
    this.counters.bytesIn += payloadBytes;
  }
}

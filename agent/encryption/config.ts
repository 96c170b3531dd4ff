/**
 * Configuration of encrypted overlays on one node: one spec, one DEFAULTS table with the
 * reason for each value, validated by `loadConfig` (a bad field is named in the error).
 */
import { cidr, int, loadConfig, oneOf, str, type ConfigSpec } from "../../common/config.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { parseCidr } from "../../common/net-addr.js";
import { hex, INGRESS_MARK, INGRESS_MARK_MASK } from "../ingress/ruleset-model.js";

export type BackendChoice = "auto" | "kernel" | "userspace";

export interface EncryptionConfig {
  /** "auto": kernel ESP when the probe finds esp_aes_gcm, else the user-space datapath. */
  backend: BackendChoice;
  /**
   * UDP port of the overlay's VXLAN traffic until `setVxlanPort` gives the cluster's
   * data-path port (the agent always does, before it starts a backend).
   */
  vxlanPort: number;
  /** UDP port the user-space datapath sends and receives encrypted records on, cluster-wide. */
  dataPort: number;
  /** Local-only addresses a VXLAN FDB entry points at to reach a peer through the user-space relay. */
  relayCidr: string;
  /** The node-side relay device: VXLAN packets routed to relayCidr leave through it. */
  relayDevice: string;
  /** The other end of the relay veth; its passthru macvtap is what the datapath reads. */
  relayPeerDevice: string;
  /** The macvtap on relayPeerDevice. */
  relayTapDevice: string;
  /** MTU of an encrypted network's endpoints and VXLAN device with the user-space backend. */
  userspaceOverlayMtu: number;
  /** Anti-replay window of the user-space datapath, in records. */
  replayWindow: number;
  /** Anti-replay window of kernel ESP states (with extended sequence numbers), in packets. */
  espReplayWindow: number;
  /** fwmark that selects an encrypted VNI's VXLAN packets for the ESP policy. */
  xfrmMark: number;
  /** reqid tying our ESP policies to our states; also how stale ones are found and flushed. */
  xfrmReqid: number;
  /** SO_SNDBUF/SO_RCVBUF of the datapath's UDP socket (the kernel caps it at net.core.*mem_max). */
  socketBufferBytes: number;
  /** How long stop() waits for the datapath process before killing it. */
  datapathStopTimeoutMs: number;
}

/**
 * Largest overlay MTU whose biggest frame still fits one UDP datagram (65507 bytes):
 * record header 20 + virtio-net header 10 + VXLAN header 8 + inner Ethernet 14 + tag 16.
 */
export const MAX_USERSPACE_OVERLAY_MTU = 65507 - 20 - 10 - 8 - 14 - 16;

export const ENCRYPTION_DEFAULTS: EncryptionConfig = {
  // The probe decides; an operator can force either (e.g. to compare them).
  backend: "auto",
  // IANA's VXLAN port, the cluster's by default; the agent sets the cluster's own
  // (setVxlanPort) before it starts a backend, so only direct users (tests, bench) keep it.
  vxlanPort: 4789,
  // Any port free on every node works; like 4789 it must be open between nodes.
  dataPort: 4800,
  // RFC 2544 benchmarking space: never routed on the internet nor used by IPAM's default
  // pools or the lab (100.64/16); only routed into the relay device inside a node.
  relayCidr: "198.18.0.0/16",
  // Short, recognisable names under the 15-character limit.
  relayDevice: "snenc0",
  relayPeerDevice: "snenc1",
  relayTapDevice: "snenctap",
  // Measured: per-packet work in Node caps a relay at ~0.1 Gbit/s with 1400-byte frames;
  // with 64 KB frames the same relay carries > 1 Gbit/s. The relay fragments on the underlay.
  userspaceOverlayMtu: 65000,
  // Records to one peer arrive in order on a LAN; 1024 covers bursts of reordering cheaply.
  replayWindow: 1024,
  // ESN makes the counter 64-bit, so the window only absorbs reordering.
  espReplayWindow: 128,
  // "SWNC"; distinct from Docker's 0xd0c4e3 and kube-proxy's 0x4000/0x8000 bits, and its
  // top byte is not the routing mesh's ingress 0x01 (checked below).
  xfrmMark: 0x53574e43,
  // Any constant of ours; 0x5357 is "SW".
  xfrmReqid: 0x5357,
  // Four 64 KB records in flight per MiB; 4 MiB rides out a scheduling hiccup at 2 Gbit/s.
  socketBufferBytes: 4 * 1024 * 1024,
  // The datapath exits within milliseconds when asked; this only bounds a wedged one.
  datapathStopTimeoutMs: 2000,
};

const DEVICE = str({
  pattern: /^[A-Za-z0-9_.-]{1,15}$/,
  hint: "a device name of 1-15 letters, digits, . _ -",
});

const SPEC: ConfigSpec<EncryptionConfig> = {
  backend: oneOf(["auto", "kernel", "userspace"] as const),
  vxlanPort: int({ min: 1, max: 65535 }),
  dataPort: int({ min: 1, max: 65535 }),
  relayCidr: cidr(),
  relayDevice: DEVICE,
  relayPeerDevice: DEVICE,
  relayTapDevice: DEVICE,
  userspaceOverlayMtu: int({ min: 576, max: MAX_USERSPACE_OVERLAY_MTU }),
  replayWindow: int({ min: 32, max: 65536 }),
  espReplayWindow: int({ min: 0, max: 4096 }),
  xfrmMark: int({ min: 1, max: 0xffffffff }),
  xfrmReqid: int({ min: 1, max: 0xffffffff }),
  socketBufferBytes: int({ min: 65536, max: 1 << 30 }),
  datapathStopTimeoutMs: int({ min: 100, max: 60_000 }),
};

export function loadEncryptionConfig(overrides: Record<string, unknown> = {}): EncryptionConfig {
  const c = loadConfig("encryption", SPEC, ENCRYPTION_DEFAULTS, overrides);
  const relay = parseCidr(c.relayCidr);
  if (relay !== undefined && relay.prefix > 24) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      `encryption.relayCidr: needs at least 256 addresses (a /24 or larger), got ${c.relayCidr}`,
    );
  }
  if (c.dataPort === c.vxlanPort) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      `encryption.dataPort: must differ from vxlanPort ${c.vxlanPort}`,
    );
  }
  // The mesh SNATs packets whose mark's top byte is its ingress one: VXLAN marked so
  // would leave with another source, outside the ESP policy.
  if ((c.xfrmMark & INGRESS_MARK_MASK) >>> 0 === INGRESS_MARK) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      `encryption.xfrmMark: ${hex(c.xfrmMark)} is one of the routing mesh's ingress marks (${hex(INGRESS_MARK)}-${hex(INGRESS_MARK + 0xffffff)})`,
    );
  }
  if (new Set([c.relayDevice, c.relayPeerDevice, c.relayTapDevice]).size !== 3) {
    throw new SwarmnetError(
      ErrorCode.InvalidConfig,
      "encryption.relayDevice: the three relay device names must differ",
    );
  }
  return c;
}

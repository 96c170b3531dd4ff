/**
 * The user-space datapath process: `node datapath-process.js '<json args>'`, started by
 * the user-space backend (through the executor, inside the node's namespace) and
 * controlled over a Unix socket (datapath-control.ts). It owns the two hot loops:
 *
 *   relay device (macvtap char device) --read--> Datapath.onFrame --UDP--> peer
 *   peer --UDP--> Datapath.onRecord --writev--> relay device
 *
 * Why a process of its own: it keeps the agent's event loop (gossip timers, gRPC) free of
 * the per-record work, it gets the second core, and it can always be stopped. Node cannot
 * poll a character device, so the tap is read with blocking reads in libuv's thread pool,
 * one at a time (frames stay in order), the next read issued before the current frame is
 * processed so reading and encrypting overlap. A blocked read cannot be cancelled and
 * would keep even process.exit() waiting; stopping therefore sends one datagram to the
 * relay prefix's wake-up address, which the kernel routes into the relay device, so the
 * read returns and the loop ends. If the device is gone, a self-SIGKILL is the fallback.
 *
 * Writes into the tap are synchronous: measured, an asynchronous write queue added up to
 * 100 ms of queueing under load (ping) without more throughput. Also measured: reading
 * the tap with blocking reads in a worker thread (no thread-pool hop) gave RTT 1.0–1.4 ms
 * against 1.2–5.2 ms and 2.0–2.3 Gbit/s against 1.8–2.0 — inside this shared machine's
 * noise, and a worker blocked in read() makes stopping harder; not adopted.
 *
 * The process exits when its control connection closes (the agent died), so it never
 * outlives the agent.
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { openSync, read, readFileSync, writevSync } from "node:fs";
import { connect } from "node:net";
import {
  LineChannel,
  type ControlReply,
  type ControlRequest,
  type KernelUdpCounters,
} from "./datapath-control.js";
import { Datapath } from "./datapath.js";
import { NonceSequence } from "./nonce.js";

export interface DatapathProcessArgs {
  /** Unix socket of the backend's control server. */
  control: string;
  /** Character device node of the relay macvtap. */
  tap: string;
  localAddr: string;
  dataPort: number;
  vxlanPort: number;
  replayWindow: number;
  socketBufferBytes: number;
  wakeAddr: string;
  /** Hex MACs (aa:bb:…) of the node-side relay device and of the tap. */
  nodeMac: string;
  tapMac: string;
}

/** One frame: virtio-net header + Ethernet + up to 64 KiB of IP; a full buffer means truncation. */
const READ_BUFFER_BYTES = 10 + 14 + 65535 + 1;
const STOP_FALLBACK_MS = 1000;

/** This namespace's UDP counters: /proc/net follows the reading process's namespace. */
function kernelUdpCounters(): KernelUdpCounters {
  try {
    const lines = readFileSync("/proc/self/net/snmp", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = (lines[0] ?? "").split(/\s+/);
    const values = (lines[1] ?? "").split(/\s+/).map(Number);
    const get = (n: string) => values[names.indexOf(n)] ?? 0;
    return { udpRcvbufErrors: get("RcvbufErrors"), udpSndbufErrors: get("SndbufErrors") };
  } catch {
    return { udpRcvbufErrors: 0, udpSndbufErrors: 0 };
  }
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(":").map((h) => parseInt(h, 16)));
}

function main(): void {
  const raw = process.argv[2];
  if (raw === undefined) {
    process.stderr.write("usage: datapath-process.js '<json args>'\n");
    process.exit(2);
  }
  const args = JSON.parse(raw) as DatapathProcessArgs;
  const fd = openSync(args.tap, "r+");
  const sock: UdpSocket = createSocket({
    type: "udp4",
    recvBufferSize: args.socketBufferBytes,
    sendBufferSize: args.socketBufferBytes,
  });
  const dp = new Datapath(
    {
      localAddr: args.localAddr,
      vxlanPort: args.vxlanPort,
      replayWindow: args.replayWindow,
      nodeMac: macBytes(args.nodeMac),
      tapMac: macBytes(args.tapMac),
      nonce: new NonceSequence(() => randomBytes(4).readUInt32BE(0), Date.now),
    },
    {
      sendRecord: (parts, addr) => sock.send(parts as Buffer[], args.dataPort, addr),
      writeFrame: (parts) => {
        try {
          writevSync(fd, parts as Buffer[]);
        } catch {
          dp.counters.writeErrors++;
        }
      },
    },
  );

  let stopping = false;
  let channel: LineChannel<ControlRequest, ControlReply> | undefined;
  const fatal = (message: string) => {
    channel?.send({ op: "fatal", message });
    process.stderr.write(`datapath: ${message}\n`);
    stop();
  };

  // Before binding an 'error' is the bind failing (port taken): the backend sees the exit.
  // After, it is a failed send (full buffer, unreachable): sends carry no callback.
  let bound = false;
  sock.on("error", (err) => {
    if (bound) {
      dp.counters.sendErrors++;
      return;
    }
    process.stderr.write(`datapath: cannot bind ${args.localAddr}:${args.dataPort}: ${err.message}\n`);
    process.exit(1);
  });
  sock.on("message", (msg, rinfo) => dp.onRecord(msg, rinfo.address));

  const bufs = [Buffer.allocUnsafe(READ_BUFFER_BYTES), Buffer.allocUnsafe(READ_BUFFER_BYTES)];
  let which = 0;
  const readNext = (): void => {
    if (stopping) return exitNow();
    const b = bufs[which] as Buffer;
    which ^= 1;
    read(fd, b, 0, b.length, null, (err, n) => {
      if (err) return fatal(`reading the relay device: ${err.message}`);
      readNext();
      if (n >= b.length) dp.counters.dropOversize++;
      else dp.onFrame(b, n);
    });
  };

  const exitNow = (): void => {
    process.exit(0);
  };

  function stop(): void {
    if (stopping) return;
    stopping = true;
    // Wake the blocked read: this datagram is routed into the relay device.
    const wake = createSocket("udp4");
    wake.send(Buffer.from("wake"), args.dataPort, args.wakeAddr, () => wake.close());
    try {
      sock.close();
    } catch {
      // not bound yet
    }
    setTimeout(() => process.kill(process.pid, "SIGKILL"), STOP_FALLBACK_MS).unref();
  }

  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  const handle = (m: ControlRequest): void => {
    const ch = channel as LineChannel<ControlRequest, ControlReply>;
    try {
      switch (m.op) {
        case "keys":
          dp.setKeys(
            m.keys.map((k) => ({ tag: k.tag, secret: Buffer.from(k.secret, "base64") })),
            m.primaryTag,
          );
          ch.send({ op: "done", id: m.id });
          break;
        case "peers":
          dp.setPeers(m.peers);
          ch.send({ op: "done", id: m.id });
          break;
        case "vxlan-port":
          dp.setVxlanPort(m.port);
          ch.send({ op: "done", id: m.id });
          break;
        case "stats":
          ch.send({ op: "stats", id: m.id, counters: { ...dp.counters }, kernel: kernelUdpCounters() });
          break;
        case "stop":
          ch.send({ op: "done", id: m.id });
          stop();
          break;
      }
    } catch (err) {
      ch.send({ op: "error", id: m.id, message: err instanceof Error ? err.message : String(err) });
    }
  };

  sock.bind(args.dataPort, args.localAddr, () => {
    bound = true;
    const control = connect(args.control, () => {
      channel = new LineChannel<ControlRequest, ControlReply>(control, handle, (e) =>
        process.stderr.write(`datapath: ${e.message}\n`),
      );
      channel.send({ op: "ready" });
      readNext();
    });
    control.on("close", stop);
    control.on("error", (e) => {
      process.stderr.write(`datapath: control socket: ${e.message}\n`);
      stop();
    });
  });
}

main();

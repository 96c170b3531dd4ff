/**
 * The control channel between the user-space backend (in the agent) and its datapath
 * process: newline-delimited JSON over a Unix socket that only root can open (it lives in
 * a 0700 directory). Key secrets cross it base64-encoded; it is never logged. Requests
 * carry an id and are answered in order, so `setKeys` resolves only once the datapath
 * uses the new ring (the rotation order depends on it).
 */
import type { Socket } from "node:net";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { DatapathCounters, DatapathPeer } from "./datapath.js";

export type ControlRequest =
  | { op: "keys"; id: number; keys: { tag: number; secret: string }[]; primaryTag: number }
  | { op: "peers"; id: number; peers: DatapathPeer[] }
  | { op: "vxlan-port"; id: number; port: number }
  | { op: "stats"; id: number }
  | { op: "stop"; id: number };

export type ControlReply =
  | { op: "ready" }
  | { op: "done"; id: number }
  | { op: "stats"; id: number; counters: DatapathCounters; kernel: KernelUdpCounters }
  | { op: "error"; id: number; message: string }
  | { op: "fatal"; message: string };

/**
 * The node namespace's UDP drop counters (/proc/net/snmp): records the kernel dropped
 * before the datapath could read them (receive buffer full) or could not queue.
 */
export interface KernelUdpCounters {
  udpRcvbufErrors: number;
  udpSndbufErrors: number;
}

/** Largest line either side accepts: a peers message for thousands of peers fits. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** JSON lines over a stream socket; `onMessage` sees each parsed object once. */
export class LineChannel<In, Out> {
  private pending = "";

  constructor(
    private readonly socket: Socket,
    onMessage: (m: In) => void,
    onBad: (err: SwarmnetError) => void,
  ) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.pending += chunk;
      if (this.pending.length > MAX_LINE_BYTES) {
        this.pending = "";
        onBad(new SwarmnetError(ErrorCode.MalformedMessage, "control line too long"));
        return;
      }
      let nl = this.pending.indexOf("\n");
      while (nl >= 0) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        nl = this.pending.indexOf("\n");
        if (line.trim() === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (err) {
          onBad(new SwarmnetError(ErrorCode.MalformedMessage, "control line is not JSON", { cause: err }));
          continue;
        }
        if (
          typeof value !== "object" ||
          value === null ||
          typeof (value as { op?: unknown }).op !== "string"
        ) {
          onBad(new SwarmnetError(ErrorCode.MalformedMessage, "control message without op"));
          continue;
        }
        onMessage(value as In);
      }
    });
  }

  send(m: Out): void {
    if (!this.socket.destroyed) this.socket.write(JSON.stringify(m) + "\n");
  }
}

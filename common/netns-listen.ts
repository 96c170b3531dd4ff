/**
 * Sockets bound inside other network namespaces and held by this process (the embedded
 * DNS's 127.0.0.11:53 in each container), made by one long-lived helper, `netns-listen.py`
 * (Python can setns(2), Node cannot), which passes the descriptors over Node's IPC channel.
 *
 * Why long-lived: a helper per request cost 0.1–0.5 s of process start under load, and
 * every `run` waited for it (it was most of the agent's share of a `run`, #16). Requests
 * go one at a time; a helper that dies or stops answering fails the request in flight
 * (each namespace gets the error) and the next request starts a new one. The channel does
 * not keep this process alive between requests, and the helper exits when its parent's
 * end of the channel closes, so nothing outlives the agent, even after SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket as UdpSocket } from "node:dgram";
import type { Server, Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { ErrorCode, SwarmnetError } from "./errors.js";
import { python3 } from "./process.js";
import { SerialQueue } from "./serial-queue.js";

/** A UDP socket and a TCP server on the same address, bound inside a namespace. */
export interface NetnsListeners {
  udp: UdpSocket;
  tcp: Server;
}

/** Shipped as source: the compiled module sits at dist/common/, the script at common/. */
const HELPER = fileURLToPath(new URL("../../common/netns-listen.py", import.meta.url));
/** One request (a few ms per namespace; seconds on a loaded machine). */
const REQUEST_TIMEOUT_MS = 60_000;

interface Request {
  id: number;
  /** `host:port`, for errors. */
  where: string;
  out: Map<string, NetnsListeners | Error>;
  half: Map<string, Partial<NetnsListeners>>;
  finish(why?: string): void;
}

interface HelperMessage {
  ns?: unknown;
  kind?: unknown;
  error?: unknown;
  done?: unknown;
}

export class NetnsListenHelper {
  private child: ChildProcess | undefined;
  private stderr = "";
  private current: Request | undefined;
  private seq = 0;
  private readonly queue = new SerialQueue();

  /** `onStart`: called for each helper process started (the executor counts spawns). */
  constructor(private readonly onStart: () => void = () => undefined) {}

  /** Sockets on `host:port` in each namespace; a namespace that fails maps to its error. */
  listen(
    namespaces: readonly string[],
    host: string,
    port: number,
  ): Promise<Map<string, NetnsListeners | Error>> {
    if (namespaces.length === 0) return Promise.resolve(new Map());
    return this.queue.run(() => this.request(namespaces, host, port));
  }

  /** Ends the helper; a later request starts another. */
  close(): void {
    this.child?.kill("SIGKILL");
    this.child = undefined;
  }

  private request(
    namespaces: readonly string[],
    host: string,
    port: number,
  ): Promise<Map<string, NetnsListeners | Error>> {
    return new Promise((resolve) => {
      const child = this.child ?? this.start();
      const req: Request = {
        id: ++this.seq,
        where: `${host}:${port}`,
        out: new Map(),
        half: new Map(),
        finish: (why) => {
          if (this.current !== req) return;
          this.current = undefined;
          clearTimeout(timer);
          child.channel?.unref();
          for (const ns of namespaces) {
            if (req.out.has(ns)) continue;
            const h = req.half.get(ns);
            h?.udp?.close();
            h?.tcp?.close();
            const reason = why ?? "no answer";
            req.out.set(
              ns,
              new SwarmnetError(
                ErrorCode.KernelRejected,
                `cannot listen on ${req.where} in ${ns}: ${reason}`,
              ),
            );
          }
          resolve(req.out);
        },
      };
      const timer = setTimeout(() => {
        req.finish(`no answer within ${REQUEST_TIMEOUT_MS} ms`);
        if (this.child === child) this.close();
      }, REQUEST_TIMEOUT_MS);
      this.current = req;
      child.channel?.ref();
      child.send({ id: req.id, host, port, namespaces }, (err) => {
        if (err !== null) req.finish(err.message);
      });
    });
  }

  private start(): ChildProcess {
    this.onStart();
    this.stderr = "";
    const child = spawn(python3() ?? "python3", [HELPER], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    child.unref();
    child.channel?.unref();
    child.stderr?.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    (child.stderr as Socket | null)?.unref();
    child.on("error", () => undefined);
    child.on("message", (msg: HelperMessage, handle: unknown) => this.onMessage(msg, handle));
    child.on("close", (code, signal) => {
      if (this.child === child) this.child = undefined;
      const last = this.stderr.trim().split("\n").pop();
      this.current?.finish(last || `helper exited (${signal ?? code})`);
    });
    this.child = child;
    return child;
  }

  private onMessage(msg: HelperMessage, handle: unknown): void {
    const req = this.current;
    if (req === undefined) {
      (handle as { close?: () => void } | undefined)?.close?.();
      return;
    }
    if (msg.done === req.id) return req.finish();
    const ns = String(msg.ns);
    if (typeof msg.error === "string") {
      req.out.set(
        ns,
        new SwarmnetError(ErrorCode.KernelRejected, `cannot listen on ${req.where} in ${ns}: ${msg.error}`),
      );
      return;
    }
    const h = req.half.get(ns) ?? {};
    if (msg.kind === "udp") h.udp = handle as UdpSocket;
    if (msg.kind === "tcp") h.tcp = handle as Server;
    req.half.set(ns, h);
    if (h.udp !== undefined && h.tcp !== undefined) req.out.set(ns, { udp: h.udp, tcp: h.tcp });
  }
}

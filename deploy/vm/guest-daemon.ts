/**
 * The guest daemon: the one process busybox init respawns inside every VM node. It
 * serves the host's control sessions over the virtio-serial port `swarmnet.ctl`, never
 * over the network, so nftables rules, chaos steps or a broken underlay in the guest
 * cannot cut the lab's way in.
 *
 * Requests (frames.ts): `exec` runs a command to completion, streaming stdin in and
 * stdout/stderr/exit out (a session closed by the host kills it); `spawn` starts a
 * long-lived detached process (agent, manager, etcd) with output appended to a log file
 * and answers its pid; `kill` signals a pid; `alive` says which pids still run; `exists`
 * whether a path exists (a readiness check that costs the guest no process spawn).
 * Process bookkeeping stays on the host (the lab's state.json), as for namespace nodes;
 * the daemon keeps nothing but its open sessions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import {
  LinkFrame,
  SessionFrame,
  linkFrame,
  linkReader,
  sessionFrame,
  sessionReader,
  type GuestReply,
  type GuestRequest,
} from "./frames.js";

export const CONTROL_PORT_NAME = "swarmnet.ctl";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function findPort(): string | undefined {
  try {
    for (const dir of readdirSync("/sys/class/virtio-ports")) {
      const name = readFileSync(`/sys/class/virtio-ports/${dir}/name`, "utf8").trim();
      if (name === CONTROL_PORT_NAME) return `/dev/${dir}`;
    }
  } catch {
    // no virtio-serial device (yet)
  }
  return undefined;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

interface Session {
  reader: ReturnType<typeof sessionReader>;
  child?: ChildProcess;
  started: boolean;
}

class Daemon {
  private readonly sessions = new Map<number, Session>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly port: FileHandle) {}

  private send(session: number, kind: number, payload?: Buffer): void {
    const frame = linkFrame(session, kind, payload);
    this.writes = this.writes.then(() => this.port.write(frame)).catch(() => undefined);
  }

  private toSession(session: number, kind: number, payload?: Buffer | string): void {
    this.send(session, LinkFrame.Data, sessionFrame(kind, payload));
  }

  private end(session: number): void {
    if (!this.sessions.delete(session)) return;
    this.send(session, LinkFrame.Close);
  }

  private reply(session: number, r: GuestReply): void {
    this.toSession(session, SessionFrame.Reply, JSON.stringify(r));
    this.end(session);
  }

  async run(): Promise<void> {
    const link = linkReader();
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await this.port.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        // The host side is not connected: sessions it had are gone.
        for (const id of [...this.sessions.keys()]) this.close(id);
        await sleep(200);
        continue;
      }
      for (const m of link.push(Buffer.from(buf.subarray(0, bytesRead)))) {
        if (m.kind === LinkFrame.Close) this.close(m.session);
        else this.data(m.session, m.payload);
      }
    }
  }

  private close(id: number): void {
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    if (s?.child?.pid !== undefined && s.child.exitCode === null) {
      try {
        process.kill(-s.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  private data(id: number, chunk: Buffer): void {
    let s = this.sessions.get(id);
    if (s === undefined) {
      s = { reader: sessionReader(), started: false };
      this.sessions.set(id, s);
    }
    for (const f of s.reader.push(chunk)) {
      if (!s.started && f.kind === SessionFrame.Request) {
        s.started = true;
        this.request(id, s, JSON.parse(f.payload.toString()) as GuestRequest);
      } else if (f.kind === SessionFrame.Stdin) {
        s.child?.stdin?.write(f.payload);
      } else if (f.kind === SessionFrame.StdinEof) {
        s.child?.stdin?.end();
      }
    }
  }

  private request(id: number, s: Session, req: GuestRequest): void {
    try {
      switch (req.op) {
        case "exec":
          return this.exec(id, s, req);
        case "spawn": {
          const fd = openSync(req.logFile, "a");
          try {
            const [file, ...args] = req.argv;
            const child = spawn(file ?? "", args, {
              detached: true,
              stdio: ["ignore", fd, fd],
              env: { ...process.env, ...req.env },
            });
            child.on("error", () => undefined);
            child.unref();
            if (child.pid === undefined) return this.reply(id, { ok: false, error: `cannot start ${file}` });
            return this.reply(id, { ok: true, pid: child.pid });
          } finally {
            closeSync(fd);
          }
        }
        case "kill":
          try {
            process.kill(req.pid, req.signal);
          } catch {
            // already gone: the caller asked for it to be gone
          }
          return this.reply(id, { ok: true });
        case "alive":
          return this.reply(id, { ok: true, alive: req.pids.map(running) });
        case "exists":
          return this.reply(id, { ok: true, exists: existsSync(req.path) });
      }
    } catch (err) {
      this.reply(id, { ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }

  private exec(id: number, s: Session, req: Extract<GuestRequest, { op: "exec" }>): void {
    const [file, ...args] = req.argv;
    const child = spawn(file ?? "", args, {
      detached: true,
      stdio: [req.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      env: { ...process.env, ...req.env },
    });
    s.child = child;
    child.stdin?.on("error", () => undefined);
    child.stdout?.on("data", (d: Buffer) => this.toSession(id, SessionFrame.Stdout, d));
    child.stderr?.on("data", (d: Buffer) => this.toSession(id, SessionFrame.Stderr, d));
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      this.toSession(id, SessionFrame.Exit, JSON.stringify({ code, signal }));
      this.end(id);
    };
    child.on("error", (err) => {
      this.toSession(id, SessionFrame.Stderr, `${file}: ${err.message}\n`);
      finish(127, null);
    });
    child.on("close", finish);
  }
}

async function main(): Promise<void> {
  let path = findPort();
  while (path === undefined) {
    await sleep(100);
    path = findPort();
  }
  const port = await open(path, "r+");
  await new Daemon(port).run();
}

main().catch((err: unknown) => {
  process.stderr.write(`swarmnet guest daemon: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/**
 * Traffic while a scenario runs: load generators that send HTTP requests at a fixed rate
 * and record every outcome with its time, so failures can be put on the timeline.
 *
 * - `client` (the lab's outside world) → every node's published port (the routing mesh);
 * - the `chaosprobe` container → the service's VIP and each task's address across the
 *   overlay (east-west).
 *
 * Each generator is one small Node process started detached inside its namespace (one
 * process for all its targets: a request per target per tick, each on a new connection
 * so the mesh balances every one). Its targets live in a JSON file it re-reads every
 * second, so nodes that join or tasks that move are followed without a restart. It
 * appends one JSON line per finished request (`{"t":start ms,"id":target,"ok":1,"ms":…}`
 * or `"err":…`) to its output file and flushes on SIGTERM; it exits by itself when the
 * chaos run that started it is gone. A request that gets no answer within the timeout is
 * a failure.
 */
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Executor } from "../../../common/executor.js";
import { stopProcesses } from "../../../common/process.js";

export const TRAFFIC_DEFAULTS = {
  /** Requests per second per target: 10 gives 100 ms resolution on the timeline at ~60 req/s in all. */
  ratePerSecond: 10,
  /** A request unanswered after 1 s is a failure (a healthy lab answers in milliseconds). */
  timeoutMs: 1000,
} as const;

export interface TrafficTarget {
  /** What the timeline row is called: a node name, "vip", "task:chaosweb.2". */
  id: string;
  host: string;
  port: number;
}

export interface RequestRecord {
  t: number;
  id: string;
  ok: boolean;
  ms: number;
  err?: string;
}

const GENERATOR = String.raw`
const fs = require("node:fs");
const http = require("node:http");
const [targetsFile, outFile, rate, timeoutMs] = process.argv.slice(1);
let targets = [];
let buf = [];
const load = () => { try { targets = JSON.parse(fs.readFileSync(targetsFile, "utf8")); } catch {} };
const flush = () => { if (buf.length) { fs.appendFileSync(outFile, buf.join("")); buf = []; } };
const one = (tg) => {
  const t = Date.now();
  let done = false;
  const end = (ok, err) => {
    if (done) return;
    done = true;
    buf.push(JSON.stringify(ok ? { t, id: tg.id, ok: 1, ms: Date.now() - t } : { t, id: tg.id, ok: 0, ms: Date.now() - t, err }) + "\n");
  };
  const req = http.get({ host: tg.host, port: tg.port, path: "/", agent: false, timeout: Number(timeoutMs) }, (res) => {
    res.resume();
    res.on("end", () => end(res.statusCode === 200, "status " + res.statusCode));
    res.on("error", (e) => end(false, String(e.code || e.message)));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", (e) => end(false, e.message === "timeout" ? "timeout" : String(e.code || e.message)));
};
load();
setInterval(load, 1000);
setInterval(() => { for (const tg of targets) one(tg); }, 1000 / Number(rate));
setInterval(flush, 250);
process.on("SIGTERM", () => { flush(); process.exit(0); });
// Orphaned (the chaos run was killed): stop, or it would write into the next run's file.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) { flush(); process.exit(0); } }, 1000);
`;

export class TrafficGenerator {
  private pid: number | undefined;
  readonly targetsFile: string;
  readonly outFile: string;

  constructor(
    private readonly ex: Executor,
    readonly name: string,
    private readonly netns: string,
    dir: string,
    private readonly env: Record<string, string>,
  ) {
    this.targetsFile = join(dir, `${name}-targets.json`);
    this.outFile = join(dir, `${name}-requests.jsonl`);
  }

  setTargets(targets: readonly TrafficTarget[]): void {
    writeFileSync(this.targetsFile, JSON.stringify(targets));
  }

  start(targets: readonly TrafficTarget[]): void {
    this.setTargets(targets);
    writeFileSync(this.outFile, "");
    const argv = [
      process.execPath,
      "-e",
      GENERATOR,
      this.targetsFile,
      this.outFile,
      String(TRAFFIC_DEFAULTS.ratePerSecond),
      String(TRAFFIC_DEFAULTS.timeoutMs),
    ];
    this.pid = this.ex.startDetached(argv, {
      netns: this.netns,
      logFile: join(this.outFile.replace(/\.jsonl$/, ".log")),
      env: this.env,
    }).pid;
  }

  /** Stops the generator (it flushes on SIGTERM) and returns every record, in time order. */
  async stop(): Promise<RequestRecord[]> {
    if (this.pid !== undefined) await stopProcesses([this.pid]);
    this.pid = undefined;
    return readRecords(this.outFile);
  }
}

export function readRecords(file: string): RequestRecord[] {
  if (!existsSync(file)) return [];
  const out: RequestRecord[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      const r = JSON.parse(line) as { t: number; id: string; ok: number; ms: number; err?: string };
      out.push({
        t: r.t,
        id: r.id,
        ok: r.ok === 1,
        ms: r.ms,
        ...(r.err === undefined ? {} : { err: r.err }),
      });
    } catch {
      // a line torn by a kill: skip it
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

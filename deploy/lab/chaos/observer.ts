/**
 * The continuous watch while a scenario runs, once a second:
 *
 * - every lab process (etcd, managers, agents): a pid seen alive that is gone, and that
 *   the runner did not say it would end (`expectExit`), is a crash;
 * - every running, unpaused agent's gossip member list (its control socket, from the
 *   host, with a short deadline): each member it holds `dead` is recorded with the time,
 *   for the false-death invariant.
 *
 * Reads only; the runner owns every change.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../../../common/process.js";
import { nodeDir, type LabProcessKind } from "../state.js";
import type { LabAccess } from "./lab-access.js";

const POLL_MS = 1000;
const LOG_TAIL_LINES = 3;

export interface DeathSample {
  observer: string;
  member: string;
  at: number;
}

export interface Crash {
  node: string;
  kind: LabProcessKind;
  pid: number;
  at: number;
  logTail: string[];
}

export class Observer {
  readonly deaths: DeathSample[] = [];
  readonly crashes: Crash[] = [];
  private readonly seenAlive = new Map<number, { node: string; kind: LabProcessKind }>();
  private readonly expected = new Set<number>();
  /** Agents the runner paused: not asked (they cannot answer). */
  readonly paused = new Set<string>();
  /** Nodes that left or were removed: no longer asked. */
  readonly gone = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly access: LabAccess) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), POLL_MS);
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
    await this.tick();
  }

  /** The runner is about to end `pid` (kill, stop, restart): its exit is no crash. */
  expectExit(pid: number | undefined): void {
    if (pid !== undefined) this.expected.add(pid);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.checkProcesses();
      await this.sampleGossip();
    } catch {
      // a lab changing under our feet (a node joining): the next tick reads it again
    } finally {
      this.busy = false;
    }
  }

  private checkProcesses(): void {
    const now = Date.now();
    for (const p of this.access.state().processes) {
      if (isAlive(p.pid)) {
        this.seenAlive.set(p.pid, { node: p.node, kind: p.kind });
      }
    }
    for (const [pid, who] of this.seenAlive) {
      if (isAlive(pid)) continue;
      this.seenAlive.delete(pid);
      if (this.expected.has(pid)) continue;
      this.crashes.push({ ...who, pid, at: now, logTail: logTail(this.access.name, who.node, who.kind) });
    }
  }

  private async sampleGossip(): Promise<void> {
    const nodes = this.access
      .layout()
      .nodes.map((n) => n.name)
      .filter((n) => !this.paused.has(n) && !this.gone.has(n) && this.access.running(n, "agent"));
    await Promise.all(
      nodes.map(async (observer) => {
        const client = this.access.agent(observer);
        try {
          const { members } = await client.members();
          const at = Date.now();
          for (const m of members) {
            if (m.state === "dead" && m.name !== observer) this.deaths.push({ observer, member: m.name, at });
          }
        } catch {
          // not answering this second (restarting, cut off): nothing to record
        }
      }),
    );
  }
}

function logTail(lab: string, node: string, kind: LabProcessKind): string[] {
  try {
    const lines = readFileSync(join(nodeDir(lab, node), `${kind}.log`), "utf8")
      .trim()
      .split("\n");
    return lines.slice(-LOG_TAIL_LINES);
  } catch {
    return [];
  }
}

/**
 * The fault injectors: one method per step kind, acting on resolved node names, each
 * recording on the `Timeline` what it disturbed, and each undone by `heal`.
 *
 * - processes (agent, manager, etcd): `kill` SIGKILL, `stop` SIGSTOP, `cont` SIGCONT,
 *   `restart` SIGTERM + start again, through the lab (deploy/lab/lab.ts), which knows the
 *   pids and command lines;
 * - network: partitions and nftables loss in each node's own table `swarmnet_chaos`
 *   (impairments.ts), netem for loss and delay where the kernel has it, `link-down|up`
 *   on the node's veth end in the underlay namespace;
 * - membership: `join` adds nodes to the running lab (lab.addNode), `leave` runs `swarm
 *   leave --force` on the node, `rm` kills its agent and runs `node rm --force` (a manager
 *   node demoted first) on a manager;
 * - `fdb-delete` removes one FDB entry (chosen by the seeded source) from one of the
 *   node's overlay sandboxes: with the node's agent paused first, it proves the kernel
 *   invariant can fail (nothing repairs the entry).
 *
 * `heal` makes the lab whole again: every paused process continued, every killed one
 * started, every chaos table, netem qdisc and downed link removed. It does not undo
 * joins, leaves or removals (they are the scenario's own changes).
 *
 * A restarted agent disturbs its node until it answers on its control socket, not only
 * until its process was spawned: on a loaded machine a Node process takes many seconds
 * to start, and requests through its node meanwhile fail for a reason no other node can
 * hide. The interval closes in the background when the agent first answers.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import type { LabProcessKind } from "../state.js";
import {
  applyChaosTable,
  clearLink,
  impairLink,
  NO_IMPAIRMENT,
  type Impairment,
  type LinkImpairment,
} from "./impairments.js";
import type { LabAccess } from "./lab-access.js";
import type { Observer } from "./observer.js";
import type { ProcessKind } from "./scenario.js";
import type { Timeline } from "./timeline.js";

type Key = `${string}/${LabProcessKind}`;

/** How long a restarted agent may take to answer before its node counts as healthy anyway. */
const AGENT_START_BOUND_MS = 120_000;
const AGENT_START_POLL_MS = 250;

export class FaultInjector {
  private readonly paused = new Set<Key>();
  private readonly killed = new Set<Key>();
  private readonly nft = new Map<string, Impairment>();
  private readonly links = new Map<string, LinkImpairment>();
  private readonly downLinks = new Set<string>();
  /** Nodes whose restarted agent has not answered yet. */
  private readonly starting = new Set<string>();
  readonly gone = new Set<string>();

  constructor(
    private readonly access: LabAccess,
    private readonly timeline: Timeline,
    private readonly observer: Observer,
  ) {}

  private now(): number {
    return Date.now();
  }

  async process(
    kind: "kill" | "stop" | "cont" | "restart",
    nodes: readonly string[],
    proc: ProcessKind,
  ): Promise<string[]> {
    const detail: string[] = [];
    for (const node of nodes) {
      const key: Key = `${node}/${proc}`;
      const pid = this.access.pid(node, proc);
      if (pid === undefined) throw new SwarmnetError(ErrorCode.NotFound, `${node} runs no ${proc}`);
      const lab = this.access.lab;
      switch (kind) {
        case "kill":
          this.observer.expectExit(pid);
          await lab.restart(this.access.name, node, proc, { kill: true, start: false });
          this.killed.add(key);
          this.paused.delete(key);
          if (proc === "agent") this.timeline.open(node, "agent", this.now(), `agent killed`);
          detail.push(`${proc} on ${node} killed (pid ${pid})`);
          break;
        case "stop":
          if (await lab.signal(this.access.name, node, proc, "SIGSTOP")) {
            this.paused.add(key);
            if (proc === "agent") {
              this.observer.paused.add(node);
              this.timeline.open(node, "agent", this.now(), `agent paused`);
            }
            detail.push(`${proc} on ${node} paused (pid ${pid})`);
          } else detail.push(`${proc} on ${node} was not running`);
          break;
        case "cont":
          await lab.signal(this.access.name, node, proc, "SIGCONT");
          this.paused.delete(key);
          if (proc === "agent") {
            this.observer.paused.delete(node);
            this.timeline.close(node, "agent", this.now());
          }
          detail.push(`${proc} on ${node} continued`);
          break;
        case "restart": {
          this.observer.expectExit(pid);
          if (this.paused.has(key)) await lab.signal(this.access.name, node, proc, "SIGCONT");
          if (proc === "agent") this.timeline.open(node, "agent", this.now(), `agent restarting`);
          const fresh = await lab.restart(this.access.name, node, proc, { kill: false, start: true });
          this.paused.delete(key);
          this.killed.delete(key);
          if (proc === "agent") {
            this.observer.paused.delete(node);
            this.closeWhenAnswering(node);
          }
          detail.push(`${proc} on ${node} restarted (pid ${pid} → ${fresh})`);
          break;
        }
      }
    }
    return detail;
  }

  private async setNft(node: string, change: (i: Impairment) => Impairment): Promise<void> {
    const next = change(this.nft.get(node) ?? NO_IMPAIRMENT);
    const k = this.access.kernel(node);
    await applyChaosTable(k.ex, k.at, next);
    this.nft.set(node, next);
  }

  async partition(groups: readonly string[][], oneway: boolean): Promise<string[]> {
    const addr = (n: string) => this.access.node(n).address;
    const at = this.now();
    for (const [gi, group] of groups.entries()) {
      const others = groups
        .filter((_, j) => j !== gi)
        .flat()
        .map(addr);
      for (const node of group) {
        // One way: only the first group's packets to the others are dropped.
        const dropTo = !oneway || gi === 0 ? others : [];
        const dropFrom = !oneway ? others : [];
        if (dropTo.length === 0 && dropFrom.length === 0) continue;
        await this.setNft(node, (i) => ({
          ...i,
          dropTo: [...new Set([...i.dropTo, ...dropTo])],
          dropFrom: [...new Set([...i.dropFrom, ...dropFrom])],
        }));
      }
    }
    // The smaller side is the disturbed one (on a tie, every group but the first).
    const largest = Math.max(...groups.map((g) => g.length));
    const keep = groups.findIndex((g) => g.length === largest);
    for (const [gi, group] of groups.entries()) {
      if (gi !== keep) for (const n of group) this.timeline.open(n, "network", at, "partitioned");
    }
    return [`${oneway ? "one-way " : ""}partition ${groups.map((g) => `[${g.join(", ")}]`).join(" | ")}`];
  }

  async impair(nodes: readonly string[], change: Partial<LinkImpairment>): Promise<string[]> {
    const detail: string[] = [];
    for (const node of nodes) {
      const want = { lossPercent: 0, delayMs: 0, jitterMs: 0, ...this.links.get(node), ...change };
      const k = this.access.kernel(node);
      const r = await impairLink(k.ex, k.at, want, (lossPercent) =>
        this.setNft(node, (i) => ({ ...i, lossPercent })),
      );
      this.links.set(node, want);
      this.timeline.open(node, "network", this.now(), "lossy or slow link");
      detail.push(
        `${node}: ${change.lossPercent !== undefined ? `loss ${want.lossPercent}%` : `delay ${want.delayMs}ms`} via ${r.via}`,
      );
      for (const u of r.unavailable) detail.push(`${node}: ${u}: unavailable`);
    }
    return detail;
  }

  async link(up: boolean, nodes: readonly string[]): Promise<string[]> {
    const u = this.access.layout().underlayNetns;
    for (const node of nodes) {
      await this.access.ex.ip(["link", "set", this.access.node(node).underlayPort, up ? "up" : "down"], {
        netns: u,
      });
      if (up) {
        this.downLinks.delete(node);
        this.timeline.close(node, "network", this.now());
      } else {
        this.downLinks.add(node);
        this.timeline.open(node, "network", this.now(), "link down");
      }
    }
    return nodes.map((n) => `${n}: underlay link ${up ? "up" : "down"}`);
  }

  async join(names: readonly string[]): Promise<string[]> {
    const at = this.now();
    for (const n of names) this.timeline.open(n, "membership", at, "joining");
    const added = await this.access.lab.addNodes(this.access.name, names.length);
    const end = this.now();
    for (const n of names) this.timeline.close(n, "membership", end);
    return added.map((n) => `${n} joined`);
  }

  async leave(how: "leave" | "rm", nodes: readonly string[]): Promise<string[]> {
    const detail: string[] = [];
    for (const node of nodes) {
      this.timeline.open(node, "membership", this.now(), how === "leave" ? "left" : "removed");
      this.gone.add(node);
      this.observer.gone.add(node);
      if (how === "leave") {
        const r = await this.access.cli(node, ["swarm", "leave", "--force"]);
        if (!r.ok) throw new SwarmnetError(ErrorCode.Unavailable, `swarm leave on ${node}: ${r.err}`);
        detail.push(`${node} left the swarm`);
      } else {
        await this.process("kill", [node], "agent");
        const manager = this.access
          .layout()
          .nodes.find(
            (n) => n.role === "manager" && n.name !== node && this.access.running(n.name, "manager"),
          );
        if (manager === undefined)
          throw new SwarmnetError(ErrorCode.Unavailable, "no manager left to run node rm");
        // A manager must be demoted before removal (Docker's rule, manager/cluster/node-service.ts).
        if (this.access.layout().nodes.some((n) => n.name === node && n.role === "manager")) {
          const d = await this.access.cli(manager.name, ["node", "demote", node]);
          if (!d.ok) throw new SwarmnetError(ErrorCode.Unavailable, `node demote ${node}: ${d.err}`);
        }
        const r = await this.access.cli(manager.name, ["node", "rm", "--force", node]);
        if (!r.ok) throw new SwarmnetError(ErrorCode.Unavailable, `node rm ${node}: ${r.err}`);
        detail.push(`${node} removed (agent killed, node rm --force on ${manager.name})`);
      }
    }
    return detail;
  }

  /** Deletes one remote FDB entry from one of `node`'s overlay sandboxes, chosen by `draw`. */
  async fdbDelete(node: string, draw: number): Promise<string[]> {
    const netns = this.access.node(node).netns;
    const sandboxes = (await this.access.ex.netnsList()).filter((n) => n.startsWith(`${netns}-ov`)).sort();
    const entries: { ns: string; dev: string; mac: string; dst: string }[] = [];
    for (const ns of sandboxes) {
      const dev = `vx${ns.slice(netns.length + 3)}`;
      const fdb = await this.access.ex.bridgeJson<{ mac: string; dst?: string }>(
        ["fdb", "show", "dev", dev],
        { netns: ns },
      );
      for (const e of fdb) if (e.dst !== undefined) entries.push({ ns, dev, mac: e.mac, dst: e.dst });
    }
    entries.sort((a, b) => (a.ns + a.mac).localeCompare(b.ns + b.mac));
    const e = entries[Math.floor(draw * entries.length)];
    if (e === undefined)
      throw new SwarmnetError(ErrorCode.NotFound, `${node} has no overlay FDB entry to delete`);
    await this.access.ex.bridge(["fdb", "del", e.mac, "dev", e.dev, "dst", e.dst, "self"], { netns: e.ns });
    return [`${node} ${e.ns.slice(netns.length + 1)}: deleted FDB entry ${e.mac} dst ${e.dst}`];
  }

  /** Undoes every network and process fault still in place. */
  async heal(): Promise<string[]> {
    const detail: string[] = [];
    for (const node of [...this.nft.keys()]) {
      const k = this.access.kernel(node);
      await applyChaosTable(k.ex, k.at, NO_IMPAIRMENT);
      this.nft.delete(node);
      detail.push(`${node}: chaos table removed`);
    }
    for (const node of [...this.links.keys()]) {
      const k = this.access.kernel(node);
      await clearLink(k.ex, k.at);
      this.links.delete(node);
    }
    if (this.downLinks.size > 0) detail.push(...(await this.link(true, [...this.downLinks])));
    for (const key of [...this.paused]) {
      const [node = "", proc] = key.split("/") as [string, ProcessKind];
      detail.push(...(await this.process("cont", [node], proc)));
    }
    for (const key of [...this.killed]) {
      const [node = "", proc] = key.split("/") as [string, ProcessKind];
      if (this.gone.has(node)) continue;
      detail.push(...(await this.process("restart", [node], proc)));
    }
    this.timeline.closeAll(this.now(), ["agent", "network"], this.starting);
    return detail;
  }

  /** Closes the node's agent interval once its agent answers (polled; bounded). */
  private closeWhenAnswering(node: string): void {
    this.starting.add(node);
    void (async () => {
      const until = this.now() + AGENT_START_BOUND_MS;
      try {
        while (this.now() < until) {
          const client = this.access.agent(node);
          try {
            await client.members();
            this.timeline.close(node, "agent", this.now());
            return;
          } catch {
            await new Promise((r) => setTimeout(r, AGENT_START_POLL_MS));
          }
        }
      } finally {
        this.starting.delete(node);
      }
    })();
  }

  /** True when nothing the scenario did is still in place (for `lab chaos` between scenarios). */
  get healed(): boolean {
    return (
      this.paused.size === 0 &&
      this.killed.size === 0 &&
      this.nft.size === 0 &&
      this.links.size === 0 &&
      this.downLinks.size === 0
    );
  }
}

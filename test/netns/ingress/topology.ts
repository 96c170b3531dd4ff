/**
 * A hand-built two-node topology for the routing-mesh tests, every namespace named
 * `snt-<6 hex>-<role>` and removed by `down()` (processes first), whatever happened:
 *
 *   client (100.64.0.100) ─┐
 *   n1 eth0 (100.64.1.1) ──┼── ul: bridge br0 (the underlay, no uplink)
 *   n2 eth0 (100.64.1.2) ──┘
 *
 *   n1: bridge ingbr 10.255.0.2/24 + vx0 (VXLAN 4096 over eth0, flooding to n2)
 *         ├─ b1 10.255.0.11   (swarmnet whoami, task "b1", node "n1")
 *         ├─ b2 10.255.0.12   (task "b2", node "n1")
 *         └─ c1 10.255.0.21   (a container that reaches VIPs)
 *   n2: bridge ingbr 10.255.0.3/24 + vx0 (flooding to n1)
 *         └─ b3 10.255.0.13   (task "b3", node "n2")
 *
 * The client also runs `swarmnet whoami` (task "outside"), for egress tests.
 *
 * `ingbr` stands in for the ingress network's bridge: b3 is reached from n1 only through
 * the VXLAN tunnel to n2, so "a backend on another node" really is one. Backends route
 * via their own node, as tasks do.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Executor } from "../../../common/executor.js";
import { isAlive } from "../../../common/process.js";
import { parseWhoami, type WhoamiAnswer } from "../../../cli/whoami.js";
import type { MeshLab } from "../../support/mesh-acceptance.js";
import { CLI_MAIN } from "../../support/netns.js";

export interface Backend {
  role: string;
  node: "n1" | "n2";
  ip: string;
}

export const BACKENDS: readonly Backend[] = [
  { role: "b1", node: "n1", ip: "10.255.0.11" },
  { role: "b2", node: "n1", ip: "10.255.0.12" },
  { role: "b3", node: "n2", ip: "10.255.0.13" },
];
export const NODE_ADDR = { n1: "100.64.1.1", n2: "100.64.1.2" } as const;
export const INGRESS_ADDR = { n1: "10.255.0.2", n2: "10.255.0.3" } as const;
export const CLIENT_ADDR = "100.64.0.100";
export const C1_ADDR = "10.255.0.21";

/** A UDP client run with `node -e`: sends "ping", prints the reply, "TIMEOUT" or "ERROR <code>". */
const UDP_CLIENT = `
const dgram = require("node:dgram");
const [host, port, src, ms] = process.argv.slice(1);
const s = dgram.createSocket("udp4");
let timer;
const done = (t) => { clearTimeout(timer); process.stdout.write(t); s.close(); };
timer = setTimeout(() => done("TIMEOUT"), Number(ms));
s.on("message", (m) => done(String(m)));
s.on("error", (e) => done("ERROR " + e.code));
s.bind(Number(src) || 0, () => s.connect(Number(port), host, () => s.send("ping")));
`;

export class MeshTopology {
  readonly id = randomBytes(3).toString("hex");
  private readonly pids: number[] = [];

  constructor(private readonly ex: Executor) {}

  ns(role: string): string {
    return `snt-${this.id}-${role}`;
  }

  private roles(): string[] {
    return ["ul", "client", "n1", "n2", ...BACKENDS.map((b) => b.role), "c1"];
  }

  async up(): Promise<void> {
    for (const r of this.roles()) await this.ex.netnsAdd(this.ns(r));
    for (const r of this.roles()) await this.ex.ip(["link", "set", "lo", "up"], { netns: this.ns(r) });
    const ul = ["link add br0 type bridge", "link set br0 up"];
    for (const r of ["client", "n1", "n2"])
      ul.push(`link add ${r} type veth peer name eth0 netns ${this.ns(r)}`, `link set ${r} master br0 up`);
    await this.ex.ipBatch(ul, { netns: this.ns("ul") });
    await this.ex.ipBatch([`addr add ${CLIENT_ADDR}/16 dev eth0`, "link set eth0 up"], {
      netns: this.ns("client"),
    });
    for (const node of ["n1", "n2"] as const) {
      const other = node === "n1" ? "n2" : "n1";
      await this.ex.ipBatch(
        [
          `addr add ${NODE_ADDR[node]}/16 dev eth0`,
          "link set eth0 up",
          "link add ingbr type bridge",
          `link add vx0 type vxlan id 4096 dstport 4789 local ${NODE_ADDR[node]} dev eth0 nolearning`,
          "link set vx0 master ingbr up",
          `addr add ${INGRESS_ADDR[node]}/24 dev ingbr`,
          "link set ingbr up",
        ],
        { netns: this.ns(node) },
      );
      await this.ex.bridge(["fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", NODE_ADDR[other]], {
        netns: this.ns(node),
      });
    }
    const endpoints = [...BACKENDS, { role: "c1", node: "n1" as const, ip: C1_ADDR }];
    for (const b of endpoints) {
      await this.ex.ipBatch(
        [
          `link add ${b.role} mtu 1450 type veth peer name eth0 netns ${this.ns(b.role)}`,
          `link set ${b.role} master ingbr up`,
        ],
        { netns: this.ns(b.node) },
      );
      await this.ex.ipBatch(
        [
          "link set eth0 mtu 1450 up",
          `addr add ${b.ip}/24 dev eth0`,
          `route add default via ${INGRESS_ADDR[b.node]}`,
        ],
        { netns: this.ns(b.role) },
      );
    }
    this.pids.push(
      this.ex.startDetached([process.execPath, CLI_MAIN, "whoami", "--port", "80"], {
        netns: this.ns("client"),
        logFile: this.logFile("client"),
        env: { SWARMNET_TASK_NAME: "outside", SWARMNET_LOG_LEVEL: "warn" },
      }).pid,
    );
    for (const b of BACKENDS) {
      this.pids.push(
        this.ex.startDetached([process.execPath, CLI_MAIN, "whoami", "--port", "80"], {
          netns: this.ns(b.role),
          logFile: this.logFile(b.role),
          env: { SWARMNET_TASK_NAME: b.role, SWARMNET_NODE: b.node, SWARMNET_LOG_LEVEL: "warn" },
        }).pid,
      );
    }
    // Ready when each backend answers its own node directly (bounded, not timed).
    for (const b of BACKENDS) {
      for (let i = 0; ; i++) {
        const a = await this.http(b.node, `http://${b.ip}/`, 2);
        if (a?.task === b.role) break;
        if (i >= 100) throw new Error(`backend ${b.role} never answered from ${b.node}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private logFile(role: string): string {
    return join(tmpdir(), `${this.ns(role)}.log`);
  }

  /** One HTTP GET from `role`'s namespace; undefined when nothing answered. */
  async http(role: string, url: string, maxTimeS = 5): Promise<WhoamiAnswer | undefined> {
    const r = await this.ex.runIn(this.ns(role), ["curl", "-s", "--max-time", String(maxTimeS), url]);
    if (r.exitCode !== 0) return undefined;
    return parseWhoami(r.stdout);
  }

  /** One UDP exchange from `role`'s namespace; the raw answer ("TIMEOUT", "ERROR …" or a whoami answer). */
  async udp(role: string, host: string, port: number, srcPort = 0, timeoutMs = 3000): Promise<string> {
    const r = await this.ex.runIn(this.ns(role), [
      process.execPath,
      "-e",
      UDP_CLIENT,
      host,
      String(port),
      String(srcPort),
      String(timeoutMs),
    ]);
    return r.stdout;
  }

  /** Tasks that answered `n` sequential HTTP requests from `role` to `url`, in order. */
  async tasks(role: string, url: string, n: number): Promise<WhoamiAnswer[]> {
    const out: WhoamiAnswer[] = [];
    for (let i = 0; i < n; i++) {
      const a = await this.http(role, url);
      if (a !== undefined) out.push(a);
    }
    return out;
  }

  async down(): Promise<void> {
    for (const pid of this.pids) if (isAlive(pid)) process.kill(pid, "SIGTERM");
    for (const r of this.roles()) {
      const ns = this.ns(r);
      if (!(await this.ex.netnsList()).includes(ns)) continue;
      // Anything still inside one of our namespaces is ours (started above).
      for (const pid of await this.ex.netnsPids(ns)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await this.ex.netnsDelete(ns);
      rmSync(this.logFile(r), { force: true });
    }
  }
}

/** The topology as the shared mesh acceptance checks see it (test/support/mesh-acceptance.ts). */
export function netnsMeshLab(topo: MeshTopology, ex: Executor): MeshLab {
  return {
    clientNetns: topo.ns("client"),
    clientAddr: CLIENT_ADDR,
    addr: (node) => NODE_ADDR[node as keyof typeof NODE_ADDR],
    url: (host, port) => `http://${host}:${port}/`,
    async gets(from, url, n) {
      const out: (WhoamiAnswer | undefined)[] = [];
      for (let i = 0; i < n; i++) out.push(await topo.http(from, url, 3));
      return out;
    },
    task: (a) => a.task,
    async connectionTimeoutS(node, clientPort) {
      const r = await ex.runIn(topo.ns(node), [
        "conntrack",
        "-L",
        "-p",
        "tcp",
        "--orig-port-src",
        String(clientPort),
      ]);
      const line = r.stdout.split("\n").find((l) => l.includes("ESTABLISHED"));
      const timeout = line === undefined ? undefined : /^tcp\s+\d+\s+(\d+)/.exec(line)?.[1];
      return timeout === undefined ? undefined : Number(timeout);
    },
  };
}

/**
 * A hand-built multi-node topology for kernel tests and benchmarks that do not need whole
 * agents (the lab without processes): an
 * underlay namespace with a bridge, N node namespaces with `eth0` on it (100.64.1.I/16),
 * and helpers for container namespaces. Every name starts with `snt-<6 random hex>-`, and
 * `destroy()` removes every namespace with that prefix (call it from `after`).
 */
import { randomBytes } from "node:crypto";
import { Executor, type CommandResult } from "../../common/executor.js";

export class ScratchTopology {
  readonly prefix: string;
  readonly underlay: string;

  /** `tag` names the prefix: `snt-` for tests, `snb-` for benchmarks. */
  constructor(
    readonly ex: Executor = new Executor(),
    tag = "snt",
  ) {
    this.prefix = `${tag}-${randomBytes(3).toString("hex")}-`;
    this.underlay = `${this.prefix}u`;
  }

  node(i: number): { netns: string; address: string } {
    return { netns: `${this.prefix}n${i}`, address: `100.64.1.${i}` };
  }

  async build(nodes: number): Promise<void> {
    const members = Array.from({ length: nodes }, (_, k) => this.node(k + 1));
    await this.ex.ipBatch([
      `netns add ${this.underlay}`,
      ...members.map((m) => `netns add ${m.netns}`),
      // Under a temporary name, renamed inside: kernels before 6.2 create a veth in the
      // caller's namespace first, where an `eth0` may already exist (a VM's own NIC).
      ...members.map(
        (m, k) =>
          `link add ${this.prefix}e${k + 1} netns ${m.netns} type veth peer name p${k + 1} netns ${this.underlay}`,
      ),
    ]);
    await this.ex.ipBatch(
      [
        "link set lo up",
        "link add br0 type bridge",
        "link set br0 up",
        ...members.flatMap((_, k) => [`link set p${k + 1} master br0`, `link set p${k + 1} up`]),
      ],
      { netns: this.underlay },
    );
    for (const [k, m] of members.entries()) {
      await this.ex.ipBatch(
        [
          "link set lo up",
          `link set ${this.prefix}e${k + 1} name eth0`,
          `addr add ${m.address}/16 dev eth0`,
          "link set eth0 up",
        ],
        { netns: m.netns },
      );
    }
  }

  /** An empty container namespace belonging to node i. */
  async container(i: number, name: string): Promise<string> {
    const ns = `${this.node(i).netns}-c-${name}`;
    await this.ex.netnsAdd(ns);
    return ns;
  }

  run(netns: string, argv: string[], timeoutMs = 30_000): Promise<CommandResult> {
    return this.ex.runIn(netns, argv, { timeoutMs });
  }

  async ping(fromNetns: string, ip: string): Promise<boolean> {
    return (await this.run(fromNetns, ["ping", "-c1", "-W1", ip])).exitCode === 0;
  }

  async destroy(): Promise<void> {
    for (const ns of await this.ex.netnsList()) {
      if (!ns.startsWith(this.prefix)) continue;
      for (const pid of await this.ex.netnsPids(ns)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      await this.ex.netnsDelete(ns);
    }
  }
}

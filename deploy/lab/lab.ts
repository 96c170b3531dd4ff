/**
 * The network-namespace lab: many swarmnet nodes on one machine.
 *
 *   client ─┐                 underlay netns (bridge br0, no uplink, no address)
 *   n1 ─────┼── veth ── br0 ──┤
 *   nN ─────┘
 *
 * Each node is a namespace whose `eth0` is a veth into the underlay bridge; managers run a
 * real etcd member (mutual TLS only, etcd-tls.ts) and `swarmnet manager` (its mutual-TLS
 * listener on 2377, its local socket in the node dir), every node runs `swarmnet agent`,
 * all under `ip netns exec`. Each node's dir is its state dir: the node's certificate
 * lands there at `swarm init|join`, and `lab exec NODE -- swarmnet …` (its
 * `$SWARMNET_CONFIG` names the dir) acts as that node; on manager nodes `etcdctl` is set
 * up with the node's etcd certificate (`etcd()` gives the same to code beside the lab).
 * Nothing is routed to the host namespace: the bridge has no uplink and no address, and
 * the host gets no link at all (veths are created straight into their namespaces).
 *
 * Unless told `init: false` (`lab up --no-init`), `up` ends with a formed cluster: swarm
 * initialised on the first manager node, every other node joined with the right token,
 * every agent's dispatcher stream open (`cluster.ts`). With `start: false` (`lab up
 * --no-start`) it ends once the nodes exist (VMs booted), with no etcd, manager or agent.
 *
 * `up` records state before building and undoes everything if any step fails; `down`
 * stops recorded pids plus anything still inside the lab's namespaces, deletes the
 * namespaces found by name, and removes the folder — idempotent, and correct after a
 * crash or a half-finished `up`.
 *
 * Some nodes may be qemu VMs instead (`vm` option, vm-nodes.ts): a tap on the underlay
 * bridge instead of a veth, qemu and its control relay running inside the underlay
 * namespace (so `down` finds and stops them like any lab process, and deleting the
 * namespace removes the taps). Every node's processes are reached through a `NodeHost`
 * (node-host.ts), whichever kind it is.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync, existsSync, chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { Executor, type InNetns } from "../../common/executor.js";
import { cmdline, findOnPath, isAliveAs, stopProcesses } from "../../common/process.js";
import {
  allMembers,
  belongsToLab,
  CLIENT_ADDRESS,
  etcdEndpoints,
  etcdInitialCluster,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  findMember,
  labLayout,
  managerAddresses,
  managers,
  MANAGER_GRPC_PORT,
  UNDERLAY_MTU,
  UNDERLAY_PREFIX,
  validateLabName,
  type LabLayout,
  type LabNode,
} from "./layout.js";
import { AGENT_DEFAULTS } from "../../agent/config.js";
import { MANAGER_DEFAULTS } from "../../manager/config.js";
import { formCluster, joinWorkers } from "./cluster.js";
import { etcdAccess, etcdTlsFlags, writeEtcdTls, type EtcdAccess } from "./etcd-tls.js";
import { GuestRunner } from "../vm/guest-runner.js";
import { NetnsHost, VmHost, type NodeHost } from "./node-host.js";
import {
  bootVms,
  controlSocket,
  GUEST_STATE_DIR,
  prepareVms,
  tapLines,
  VM_DEFAULTS,
  type VmConfig,
} from "./vm-nodes.js";
import {
  labDir,
  nodeDir,
  readState,
  removeLabDir,
  writeState,
  type LabProcess,
  type LabProcessKind,
  type LabState,
} from "./state.js";

/**
 * The CLI entry point, run by node inside the namespaces: the bundle `npm run build` makes
 * of cli/main.ts (deploy/bundle.ts), which starts in a fraction of the unbundled time.
 */
export const CLI_MAIN = fileURLToPath(new URL("../../bundle/swarmnet.js", import.meta.url));

const ETCD_READY_TIMEOUT_MS = 30_000;
const AGENT_READY_TIMEOUT_MS = 60_000;
/** Node starts ~20× slower under TCG (VM-NOTES.md), and far slower on a loaded machine. */
const VM_AGENT_READY_TIMEOUT_MS = 600_000;
/** etcd and every etcdctl in a VM manager run emulated too. */
const VM_ETCD_READY_TIMEOUT_MS = 300_000;
/**
 * A lab with VM nodes runs its managers with every bound on how fast a peer answers this
 * many times longer. A VM agent shares one emulated vCPU with everything in its guest —
 * idle it takes about half, a `swarmnet` CLI started there all of it for a minute or two
 * on a loaded machine — and with the native bounds the manager ended VM sessions every
 * few seconds ("no heartbeat for 6000 ms") and cut reconnects mid-handshake ("the TLS
 * handshake failed"). Scaled: heartbeat period (a session ends after 10 s × 3 of
 * silence, not 2 s × 3), TLS handshake (50 s, not 10 s), node-down grace (25 s, not 5 s:
 * a VM agent's reconnect took 21 s) and keepalive timeout (25 s, not 5 s: the guest's
 * Node answers the ping, not its kernel). Authentication is unchanged; only the time a
 * peer gets is.
 */
const VM_MANAGER_TIMING_SCALE = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LabUpOptions {
  name: string;
  nodes: number;
  managers: number;
  /** Progress lines for a person watching; silent when absent. */
  progress?: (line: string) => void;
  /** Form the swarm (init on n1, join the rest); false keeps the bare lab. Default true. */
  init?: boolean;
  /**
   * Start etcd, managers and agents; false boots the nodes only (no process of swarmnet's
   * runs, nothing is formed): for tests that start them their own way, like the Vagrant
   * provisioning scripts inside VM nodes. Default true.
   */
  start?: boolean;
  /** Every agent's resync period (a duration like 10s or 1h); the agent's default when absent. */
  agentResyncInterval?: string;
  /** Nodes that are qemu VMs (n1…nN names); none by default. */
  vmNodes?: readonly string[];
  /** Kernel version for the VMs (default: the newest cached). */
  kernel?: string;
  /** Overrides of VM_DEFAULTS. */
  vm?: Partial<VmConfig>;
}

export interface NodeStatus {
  name: string;
  role: string;
  address: string;
  agent: boolean | null;
  manager: boolean | null;
  etcd: boolean | null;
  /** "vm" for a qemu VM node, "netns" otherwise. */
  kind: "netns" | "vm";
}

/** Rounds of `down`'s sweep (a second one finds what appeared during the first). */
const DOWN_SWEEPS = 3;

/**
 * What a process that died at start said last, in one line: the `msg` and `err` of its
 * last JSON log line, or the line itself ("" without a log). The lab's error carries it
 * because a test run's `after` takes the lab, and so the log, down.
 */
function lastLogWords(file: string): string {
  let line = "";
  try {
    line =
      readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .pop() ?? "";
  } catch {
    return "";
  }
  try {
    const j = JSON.parse(line) as { msg?: unknown; err?: unknown };
    const err = typeof j.err === "string" ? j.err : (j.err as { message?: unknown } | undefined)?.message;
    line = [j.msg, err].filter((x) => typeof x === "string" && x !== "").join(": ");
  } catch {
    // not JSON: the line as it is
  }
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export class Lab {
  constructor(private readonly ex: Executor) {}

  async exists(name: string): Promise<boolean> {
    if (existsSync(labDir(name))) return true;
    return (await this.ex.netnsList()).some((ns) => belongsToLab(name, ns));
  }

  async up(options: LabUpOptions): Promise<LabLayout> {
    const layout = labLayout(options.name, options.nodes, options.managers, options.vmNodes);
    const vmNodes = layout.nodes.filter((n) => n.vm);
    const vmConfig: VmConfig = { ...VM_DEFAULTS, ...options.vm };
    const kernel = vmNodes.length > 0 ? prepareVms(options.kernel) : undefined;
    const say = options.progress ?? (() => {});
    if (await this.exists(layout.name)) {
      throw new SwarmnetError(
        ErrorCode.AlreadyExists,
        `lab ${layout.name} already exists (run 'swarmnet lab down --name ${layout.name}' first)`,
      );
    }
    for (const tool of ["ip", "nft", "etcd", "etcdctl"]) {
      if (findOnPath(tool) === undefined) {
        throw new SwarmnetError(
          ErrorCode.ToolMissing,
          `${tool} is not installed (the demo command installs it)`,
        );
      }
    }
    const state: LabState = {
      name: layout.name,
      nodes: options.nodes,
      managers: options.managers,
      createdAt: new Date().toISOString(),
      processes: [],
      ...(options.agentResyncInterval === undefined
        ? {}
        : { agentResyncInterval: options.agentResyncInterval }),
      ...(kernel === undefined
        ? {}
        : {
            vm: {
              nodes: vmNodes.map((n) => n.name),
              kernel: kernel.version,
              memoryMb: vmConfig.memoryMb,
              cpus: vmConfig.cpus,
            },
          }),
    };
    writeState(state);
    try {
      say(`building ${layout.nodes.length} nodes and a client on an isolated underlay`);
      await this.buildNetwork(layout);
      this.writeNodeFiles(layout);
      await writeEtcdTls(layout, (n) => nodeDir(layout.name, n.name));
      if (kernel !== undefined) {
        say(`booting ${vmNodes.length} VM(s) (kernel ${kernel.version}, qemu TCG)`);
        await bootVms(this.ex, layout, vmNodes, kernel, vmConfig, (p) => {
          state.processes.push(p);
          writeState(state);
        });
      }
      if (options.start === false) return layout;
      say(`starting etcd on ${options.managers} manager node(s)`);
      await this.startEtcd(layout, state);
      await this.waitEtcd(layout, state);
      say("starting managers and agents");
      await this.startSwarmnet(layout, state);
      await this.waitAgents(layout, state, say);
      if (options.init !== false) {
        await formCluster(layout, {
          cliMain: CLI_MAIN,
          env: (n) => this.nodeEnv(layout.name, n),
          run: (n, argv, env) => this.host(state, n).run(argv, env),
          say,
          timeoutScale: vmNodes.length > 0 ? 10 : 1,
        });
      }
      return layout;
    } catch (err) {
      await this.down(layout.name).catch(() => {});
      throw err;
    }
  }

  /** Builds the underlay and `members` on it; with `underlay: false`, only adds members to it. */
  private async buildNetwork(layout: LabLayout, nodes = allMembers(layout), underlay = true): Promise<void> {
    const members = nodes.filter((m) => !m.vm);
    const u = layout.underlayNetns;
    // One batch creates every namespace and every veth, each end straight in its namespace.
    await this.ex.ipBatch([
      ...(underlay ? [`netns add ${u}`] : []),
      ...members.map((m) => `netns add ${m.netns}`),
      // Under a temporary name, renamed inside: kernels before 6.2 create a veth in the
      // caller's namespace first, where `eth0` usually exists already (any VM, Vagrant's).
      ...members.map(
        (m) =>
          `link add ${tempLinkName(layout.name, m.name)} netns ${m.netns} mtu ${UNDERLAY_MTU} type veth peer name ${m.underlayPort} netns ${u}`,
      ),
    ]);
    await this.ex.ipBatch(
      [
        ...(underlay ? ["link set lo up", "link add br0 type bridge", "link set br0 up"] : []),
        ...members.flatMap((m) => [`link set ${m.underlayPort} master br0`, `link set ${m.underlayPort} up`]),
        ...tapLines(nodes.filter((n) => n.vm)),
      ],
      { netns: u },
    );
    for (const m of members) {
      await this.ex.ipBatch(
        [
          "link set lo up",
          `link set ${tempLinkName(layout.name, m.name)} name eth0`,
          `addr add ${m.address}/${UNDERLAY_PREFIX} dev eth0`,
          "link set eth0 up",
        ],
        { netns: m.netns },
      );
    }
  }

  private writeNodeFiles(layout: LabLayout, members = allMembers(layout)): void {
    const bin = join(labDir(layout.name), "bin");
    mkdirSync(bin, { recursive: true });
    const shim = join(bin, "swarmnet");
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI_MAIN}" "$@"\n`);
    chmodSync(shim, 0o755);
    for (const m of members) {
      const dir = nodeDir(layout.name, m.name);
      mkdirSync(dir, { recursive: true });
      const stateDir = stateDirOf(layout.name, m);
      const config = {
        lab: layout.name,
        node: m.name,
        netns: m.netns,
        advertiseAddr: m.address,
        managers: managerAddresses(layout),
        // The client stands for the outside world: its resolver (a test starts one) is
        // the nodes' upstream DNS; no lab node ever asks the host's.
        dnsUpstreams: [`${CLIENT_ADDRESS}:53`],
        agentSocket: join(stateDir, "agent.sock"),
        etcd: etcdEndpoints(layout),
        // The agent's state dir: `swarm init|join` write the node's credentials there.
        stateDir,
      };
      writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
    }
  }

  /** The environment of a command run as `node` (its config file names the lab's managers). */
  private nodeEnv(lab: string, node: LabNode): Record<string, string> {
    return { SWARMNET_CONFIG: join(nodeDir(lab, node.name), "config.json"), SWARMNET_LAB: lab };
  }

  /** The lab's etcd as manager node `node` reaches it (etcd-tls.ts). */
  private etcdOf(layout: LabLayout, node: LabNode): EtcdAccess {
    return etcdAccess(layout, nodeDir(layout.name, node.name));
  }

  /**
   * How to read lab `name`'s etcd beside the managers (tests, chaos invariants): its
   * endpoints and the certificate of manager node `member` (the first manager when not
   * given), run inside that node (its namespace or its VM). Only manager nodes hold an
   * etcd certificate.
   */
  etcd(name: string, member?: string): EtcdAccess & { host: NodeHost } {
    const state = this.requireState(name);
    const layout = layoutOf(state);
    const node = member === undefined ? managers(layout)[0] : findMember(layout, member);
    if (node?.role !== "manager") {
      const names = managers(layout).map((m) => m.name);
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `lab ${name} has no manager node ${JSON.stringify(member ?? "")} to reach etcd from (managers: ${names.join(", ")})`,
      );
    }
    return { ...this.etcdOf(layout, node), host: this.host(state, node) };
  }

  /** Where node `node`'s processes run: its namespace, or its VM. */
  private host(state: LabState, node: LabNode): NodeHost {
    return node.vm
      ? new VmHost(controlSocket(state.name, node.name))
      : new NetnsHost(this.ex, node.netns, looksLikeLabProcess);
  }

  /**
   * How to act on node `member`'s kernel from here (chaos faults): this executor in its
   * namespace, or for a VM an executor whose commands run in the guest (guest-runner.ts).
   */
  kernel(name: string, member: string): { ex: Executor; at: InNetns } {
    const state = this.requireState(name);
    const node = findMember(layoutOf(state), member);
    if (node === undefined) throw new SwarmnetError(ErrorCode.NotFound, `lab ${name} has no node ${member}`);
    if (!node.vm) return { ex: this.ex, at: { netns: node.netns } };
    return { ex: new Executor(new GuestRunner(controlSocket(name, node.name))), at: {} };
  }

  /** Whether a recorded process still runs, asking the VM for one that runs inside it. */
  private async processRunning(state: LabState, layout: LabLayout, p: LabProcess): Promise<boolean> {
    const node = findMember(layout, p.node);
    if (p.inVm === true && node !== undefined) return this.host(state, node).running(p.pid);
    return isAliveAs(p.pid, looksLikeLabProcess);
  }

  private async record(state: LabState, node: LabNode, kind: LabProcessKind, argv: string[]): Promise<void> {
    const pid = await this.host(state, node).start(
      argv,
      {
        SWARMNET_CONFIG: join(nodeDir(state.name, node.name), "config.json"),
        SWARMNET_LAB: state.name,
        // Tasks run `swarmnet whoami` and the like: the lab's shim comes first on PATH.
        PATH: `${join(labDir(state.name), "bin")}:${process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
      },
      join(nodeDir(state.name, node.name), `${kind}.log`),
    );
    state.processes = state.processes.filter((p) => !(p.node === node.name && p.kind === kind));
    state.processes.push({ node: node.name, kind, pid, argv, ...(node.vm ? { inVm: true } : {}) });
    writeState(state);
  }

  /**
   * Stops one lab process (SIGTERM, or SIGKILL with `kill`) and starts it again with the
   * same command line: chaos tests and agent-restart recovery use it. With `start: false`
   * it only stops it (a node failure); a later call with `start: true` brings it back.
   */
  async restart(
    name: string,
    member: string,
    kind: LabProcessKind,
    opts: { kill: boolean; start: boolean },
  ): Promise<number> {
    const state = this.requireState(name);
    const layout = layoutOf(state);
    const node = findMember(layout, member);
    const proc = state.processes.find((p) => p.node === member && p.kind === kind);
    if (node === undefined || proc === undefined) {
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `lab ${name} has no ${kind} on node ${JSON.stringify(member)}`,
      );
    }
    await this.host(state, node).stop(proc.pid, opts.kill);
    if (!opts.start) return 0;
    await this.record(state, node, kind, proc.argv);
    return state.processes.find((p) => p.node === member && p.kind === kind)?.pid ?? 0;
  }

  private async startEtcd(layout: LabLayout, state: LabState): Promise<void> {
    for (const m of layout.nodes.filter((n) => n.role === "manager")) {
      await this.record(state, m, "etcd", [
        "etcd",
        `--name=${m.name}`,
        `--data-dir=${join(stateDirOf(layout.name, m), "etcd")}`,
        `--listen-client-urls=https://${m.address}:${ETCD_CLIENT_PORT},https://127.0.0.1:${ETCD_CLIENT_PORT}`,
        `--advertise-client-urls=https://${m.address}:${ETCD_CLIENT_PORT}`,
        `--listen-peer-urls=https://${m.address}:${ETCD_PEER_PORT}`,
        `--initial-advertise-peer-urls=https://${m.address}:${ETCD_PEER_PORT}`,
        ...etcdTlsFlags(this.etcdOf(layout, m).tls),
        `--initial-cluster=${etcdInitialCluster(layout)}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=swarmnet-lab-${layout.name}`,
        "--log-level=warn",
      ]);
    }
  }

  /** Polls `etcdctl endpoint health` inside the first manager until the cluster answers. */
  private async waitEtcd(layout: LabLayout, state: LabState): Promise<void> {
    const first = layout.nodes.find((n) => n.role === "manager");
    if (first === undefined) return;
    const deadline = Date.now() + (first.vm ? VM_ETCD_READY_TIMEOUT_MS : ETCD_READY_TIMEOUT_MS);
    let last = "";
    while (Date.now() < deadline) {
      const r = await this.host(state, first).run(
        ["etcdctl", "--dial-timeout=1s", "endpoint", "health"],
        this.etcdOf(layout, first).etcdctlEnv,
      );
      if (r.exitCode === 0) return;
      last = (r.stderr || r.stdout).trim().split("\n")[0] ?? "";
      await sleep(200);
    }
    throw new SwarmnetError(ErrorCode.Timeout, `etcd did not become healthy: ${last}`);
  }

  /** Waits until every agent answers on its control socket (it exists once the agent is up). */
  /** Until every agent's socket is there; `say`s each node as its agent comes up. */
  private async waitAgents(
    layout: LabLayout,
    state: LabState,
    say: (line: string) => void = () => {},
  ): Promise<void> {
    const vms = layout.nodes.some((n) => n.vm);
    const deadline = Date.now() + (vms ? VM_AGENT_READY_TIMEOUT_MS : AGENT_READY_TIMEOUT_MS);
    const pending = new Set(layout.nodes);
    for (;;) {
      for (const p of state.processes) {
        if (!layout.nodes.some((n) => n.name === p.node)) continue;
        if (await this.processRunning(state, layout, p)) continue;
        if (p.kind === "qemu" || p.kind === "vmctl") {
          const vm = p.kind === "qemu" ? "VM" : "VM control relay";
          throw new SwarmnetError(
            ErrorCode.Unavailable,
            `${vm} of ${p.node} stopped (see ${nodeDir(layout.name, p.node)})`,
          );
        }
        const log = join(nodeDir(layout.name, p.node), `${p.kind}.log`);
        const why = lastLogWords(log);
        throw new SwarmnetError(
          ErrorCode.Unavailable,
          `${p.kind} on ${p.node} exited at start${why === "" ? "" : `: ${why}`} (see ${log})`,
        );
      }
      for (const n of [...pending]) {
        if (!(await this.host(state, n).exists(join(stateDirOf(layout.name, n), "agent.sock")))) continue;
        pending.delete(n);
        say(`${n.name}: agent up (${layout.nodes.length - pending.size}/${layout.nodes.length})`);
      }
      if (pending.size === 0) return;
      if (Date.now() > deadline) {
        const late = [...pending].map((n) => n.name).join(", ");
        throw new SwarmnetError(ErrorCode.Timeout, `agents did not come up in time: ${late}`);
      }
      // A VM's answers cost its (emulated) CPU: poll it less often.
      await sleep([...pending].some((n) => n.vm) ? 1000 : 50);
    }
  }

  private async startSwarmnet(layout: LabLayout, state: LabState): Promise<void> {
    const node = process.execPath;
    for (const m of layout.nodes.filter((n) => n.role === "manager")) {
      const etcd = this.etcdOf(layout, m);
      await this.record(state, m, "manager", [
        node,
        CLI_MAIN,
        "manager",
        `--node-name=${m.name}`,
        `--listen=${m.address}:${MANAGER_GRPC_PORT}`,
        `--etcd=${etcd.endpoints.join(",")}`,
        `--etcd-ca=${etcd.tls.ca}`,
        `--etcd-cert=${etcd.tls.cert}`,
        `--etcd-key=${etcd.tls.key}`,
        `--state-dir=${stateDirOf(layout.name, m)}`,
        ...(layout.nodes.some((n) => n.vm) ? vmManagerTiming() : []),
      ]);
    }
    for (const m of layout.nodes) await this.startAgent(layout, state, m);
  }

  private async startAgent(layout: LabLayout, state: LabState, m: LabNode): Promise<void> {
    await this.record(state, m, "agent", [
      process.execPath,
      CLI_MAIN,
      "agent",
      `--node-name=${m.name}`,
      `--advertise-addr=${m.address}`,
      `--manager=${managerAddresses(layout).join(",")}`,
      `--state-dir=${stateDirOf(layout.name, m)}`,
      `--netns-prefix=${m.netns}-`,
      ...(state.agentResyncInterval === undefined ? [] : [`--resync-interval=${state.agentResyncInterval}`]),
    ]);
  }

  /**
   * Adds `count` worker nodes to a running lab at once (chaos `join`): the next names
   * (n<N+1>…), their namespaces on the underlay, their agents, and `swarm join` with the
   * worker token, all joining together. Returns the new names once the managers list them
   * Ready.
   */
  async addNodes(name: string, count: number): Promise<string[]> {
    const state = this.requireState(name);
    const layout = labLayout(state.name, state.nodes + count, state.managers, state.vm?.nodes);
    const added = layout.nodes.slice(state.nodes);
    state.nodes += count;
    writeState(state);
    await this.buildNetwork(layout, added, false);
    this.writeNodeFiles(layout, added);
    for (const m of added) await this.startAgent(layout, state, m);
    await this.waitAgents({ ...layout, nodes: added }, state);
    await joinWorkers(layout, added, {
      cliMain: CLI_MAIN,
      env: (n) => this.nodeEnv(layout.name, n),
      run: (n, argv, env) => this.host(state, n).run(argv, env),
      say: () => {},
    });
    return added.map((m) => m.name);
  }

  /** Sends a signal to one lab process (chaos `kill`, `stop`, `cont`); false if it is not running. */
  async signal(
    name: string,
    member: string,
    kind: LabProcessKind,
    sig: "SIGKILL" | "SIGSTOP" | "SIGCONT",
  ): Promise<boolean> {
    const state = this.requireState(name);
    const node = findMember(layoutOf(state), member);
    const proc = state.processes.find((p) => p.node === member && p.kind === kind);
    if (node === undefined || proc === undefined) return false;
    return this.host(state, node).signal(proc.pid, sig);
  }

  /**
   * Removes everything lab `name` made. Safe to run twice, after a crash, or on a lab that
   * never finished coming up. Returns what it removed, for the user.
   */
  async down(name: string): Promise<{ processes: number; namespaces: number }> {
    validateLabName(name);
    const state = readState(name);
    // Recorded pids whose command line still looks like ours (pids get reused), plus
    // every process still inside one of the lab's namespaces. Swept again until nothing
    // is left: an agent busy creating a container while it is being stopped can add a
    // namespace (and its process) after the first listing.
    let pids = (state?.processes ?? [])
      .filter((p) => p.inVm !== true)
      .map((p) => p.pid)
      .filter((pid) => looksLikeLabProcess(cmdline(pid)));
    const stopped = new Set<number>();
    const removed = new Set<string>();
    for (let round = 0; round < DOWN_SWEEPS; round++) {
      const namespaces = (await this.ex.netnsList()).filter((ns) => belongsToLab(name, ns));
      const inside = (await Promise.all(namespaces.map((ns) => this.ex.netnsPids(ns)))).flat();
      pids = [...new Set([...pids, ...inside])].filter((p) => p !== process.pid && !stopped.has(p));
      if (namespaces.length === 0 && pids.length === 0) break;
      await stopProcesses(pids);
      for (const p of pids) stopped.add(p);
      pids = [];
      for (const ns of namespaces) {
        await this.ex.netnsDelete(ns);
        removed.add(ns);
      }
    }
    removeLabDir(name);
    return { processes: stopped.size, namespaces: removed.size };
  }

  async status(name: string): Promise<NodeStatus[]> {
    const state = this.requireState(name);
    const layout = layoutOf(state);
    const up = async (node: LabNode, kind: LabProcessKind): Promise<boolean | null> => {
      const procs = state.processes.filter((p) => p.node === node.name && p.kind === kind);
      if (procs.length === 0) return null;
      for (const p of procs) if (await this.processRunning(state, layout, p)) return true;
      return false;
    };
    return Promise.all(
      allMembers(layout).map(async (m) => ({
        name: m.name,
        role: m.role,
        address: m.address,
        agent: await up(m, "agent"),
        manager: await up(m, "manager"),
        etcd: await up(m, "etcd"),
        kind: m.vm ? ("vm" as const) : ("netns" as const),
      })),
    );
  }

  /** Where and with which environment a command runs as node `member` of the lab. */
  execTarget(name: string, member: string): { host: NodeHost; env: Record<string, string> } {
    const state = this.requireState(name);
    const layout = layoutOf(state);
    const node = findMember(layout, member);
    if (node === undefined) {
      const known = allMembers(layout)
        .map((m) => m.name)
        .join(", ");
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `lab ${name} has no node ${JSON.stringify(member)} (nodes: ${known})`,
      );
    }
    return {
      host: this.host(state, node),
      env: {
        PATH: `${join(labDir(name), "bin")}:${process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
        SWARMNET_CONFIG: join(nodeDir(name, node.name), "config.json"),
        SWARMNET_LAB: name,
        ...(node.role === "manager" ? this.etcdOf(layout, node).etcdctlEnv : {}),
      },
    };
  }

  /**
   * A node's Prometheus metrics text (`lab metrics`): fetched on the node's own loopback,
   * where its agent (and manager) serve them, from inside its namespace.
   */
  async metrics(name: string, member: string, kind: "agent" | "manager"): Promise<string> {
    const target = this.execTarget(name, member);
    const state = this.requireState(name);
    if (kind === "manager" && !state.processes.some((p) => p.node === member && p.kind === "manager")) {
      throw new SwarmnetError(ErrorCode.NotFound, `lab ${name}: ${member} runs no manager`);
    }
    const addr = kind === "agent" ? AGENT_DEFAULTS.metricsAddr : MANAGER_DEFAULTS.metricsAddr;
    const r = await target.host.run(
      ["curl", "-sS", "--fail", "--max-time", "10", `http://${addr}/metrics`],
      {},
    );
    if (r.exitCode !== 0) {
      throw new SwarmnetError(
        ErrorCode.Unavailable,
        `${kind} on ${member} did not answer on ${addr}: ${r.stderr.trim().split("\n")[0] ?? ""}`,
      );
    }
    return r.stdout;
  }

  requireState(name: string): LabState {
    validateLabName(name);
    const state = readState(name);
    if (state === undefined) {
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `lab ${name} does not exist (start it with 'swarmnet lab up')`,
      );
    }
    return state;
  }
}

/** A lab's process by its command line: etcd, swarmnet's CLI, a VM's qemu or control relay. */
function looksLikeLabProcess(cmd: string): boolean {
  return cmd.includes("etcd") || cmd.includes(CLI_MAIN) || /qemu-system|\/vm\/ctl-relay\.js/.test(cmd);
}

/**
 * A node's state dir (certificates, the agent's and manager's sockets, etcd's data): its
 * lab folder, or for a VM the guest's own tmpfs (vm-nodes.ts: no sockets or etcd on 9p).
 */
function stateDirOf(lab: string, node: LabNode): string {
  return node.vm ? GUEST_STATE_DIR : nodeDir(lab, node.name);
}

/** A node's veth end before it is renamed eth0 inside its namespace: unique per lab and node, ≤ 15 bytes. */
function tempLinkName(lab: string, node: string): string {
  return `sne${createHash("sha256").update(`${lab}/${node}`).digest("hex").slice(0, 10)}`;
}

/** The layout a recorded lab was built with. */
function layoutOf(state: LabState): LabLayout {
  return labLayout(state.name, state.nodes, state.managers, state.vm?.nodes);
}

/** A VM lab's manager flags: its peer bounds scaled for emulation (VM_MANAGER_TIMING_SCALE). */
export function vmManagerTiming(): string[] {
  const scaled = (ms: number) => `${ms * VM_MANAGER_TIMING_SCALE}ms`;
  return [
    `--heartbeat-period=${scaled(MANAGER_DEFAULTS.heartbeatPeriodMs)}`,
    `--tls-handshake-timeout=${scaled(MANAGER_DEFAULTS.tlsHandshakeTimeoutMs)}`,
    `--node-down-grace=${scaled(MANAGER_DEFAULTS.nodeDownGraceMs)}`,
    `--keepalive-timeout=${scaled(MANAGER_DEFAULTS.keepaliveTimeoutMs)}`,
  ];
}

/**
 * The executor: the only module that spawns `ip`, `bridge`, `nft`, `sysctl`, `conntrack`, `tc`,
 * `ipvsadm`
 * (and `ip xfrm`, `ip netns exec` for processes inside namespaces). Everything that changes a
 * kernel decides what to do in pure code and hands the result here, preferably as one
 * batch: `ip -batch -`, `bridge -batch -`, `nft -f -` (atomic: all or nothing).
 *
 * Shape (after kubernetes-sigs/knftables): a tiny `CommandRunner` interface does the
 * spawning (execa in production, `RecordingRunner` in unit tests, which records every
 * command and answers from a script); `Executor` builds argument lists and translates a
 * failing tool's stderr into a typed `SwarmnetError` — the single boundary where foreign
 * tool errors become ours.
 */
import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { ErrorCode, SwarmnetError } from "./errors.js";
import { NetnsListenHelper, type NetnsListeners } from "./netns-listen.js";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** A program kept running, fed over stdin, its stdout and stderr read as one stream. */
export interface LongLivedProcess {
  write(text: string): void;
  onOutput(listener: (chunk: string) => void): void;
  /** Settles when the process has ended. */
  exited: Promise<void>;
  kill(): void;
}

/** Spawns one program to completion. Never throws for a non-zero exit: the caller decides. */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Starts a long-lived program; runners that cannot (unit-test fakes) leave it out. */
  open?(file: string, args: readonly string[]): LongLivedProcess;
  /** Ends what the runner keeps running (a helper process). */
  close?(): void;
  /**
   * Starts a detached program (Executor.startDetached's contract) without forking this
   * process; undefined where the runner cannot (then the executor spawns it itself).
   */
  startDetached?(
    file: string,
    args: readonly string[],
    options: DetachedSpawn,
  ): Promise<DetachedProcess> | undefined;
}

/** What a runner needs to start a detached program (argv aside). */
export interface DetachedSpawn {
  logFile: string;
  env: Record<string, string>;
  cwd?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * execa is loaded on the first spawn, not with this module: it is ~120 files, and every
 * CLI start imports the executor, most without running a tool (`lab exec` only spawns).
 */
const loadExeca = () => import("execa");

export class ExecaRunner implements CommandRunner {
  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { execa } = await loadExeca();
    const r = await execa(file, args, {
      reject: false,
      input: options.input ?? "",
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      env: options.env,
      stripFinalNewline: false,
    });
    if (r.failed && r.exitCode === undefined) {
      // Not an exit status: the program is missing, timed out or was killed.
      const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
      const reason = missing
        ? "ENOENT: not installed"
        : r.timedOut
          ? "timed out"
          : (r.shortMessage ?? "failed");
      return { exitCode: missing ? 127 : 124, stdout: String(r.stdout ?? ""), stderr: reason };
    }
    return { exitCode: r.exitCode ?? 0, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  }

  open(file: string, args: readonly string[]): LongLivedProcess {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", () => resolve());
    });
    child.stdin.on("error", () => undefined); // a dead process: `exited` reports it
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    return {
      write: (text) => void child.stdin.write(text),
      onOutput: (listener) => {
        child.stdout.on("data", listener);
        child.stderr.on("data", listener);
      },
      exited,
      kill: () => void child.kill("SIGKILL"),
    };
  }
}

export interface RecordedCommand {
  file: string;
  args: string[];
  input: string | undefined;
}

interface ScriptedAnswer {
  match: RegExp;
  result: Partial<CommandResult>;
  times: number;
}

/**
 * A fake runner for unit tests: records every command (file, args, stdin) and answers
 * from scripted rules matched against the command line `file arg1 arg2 …`; unmatched
 * commands succeed with empty output. `lines()` gives a readable transcript to compare.
 */
export class RecordingRunner implements CommandRunner {
  readonly commands: RecordedCommand[] = [];
  private readonly script: ScriptedAnswer[] = [];

  /** Answers commands matching `match` with `result` (for `times` calls; default: always). */
  on(match: RegExp | string, result: Partial<CommandResult>, times = Infinity): this {
    const re = typeof match === "string" ? new RegExp(escapeRegExp(match)) : match;
    this.script.push({ match: re, result, times });
    return this;
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.commands.push({ file, args: [...args], input: options.input });
    const line = [file, ...args].join(" ");
    const rule = this.script.find((r) => r.times > 0 && r.match.test(line));
    if (rule) rule.times -= 1;
    return { exitCode: 0, stdout: "", stderr: "", ...rule?.result };
  }

  /** Each command as one line; batch input follows, indented. */
  lines(): string[] {
    return this.commands.flatMap((c) => {
      const head = [c.file, ...c.args].join(" ");
      const body = (c.input ?? "").split("\n").filter((l) => l.trim() !== "");
      return [head, ...body.map((l) => `  ${l}`)];
    });
  }

  clear(): void {
    this.commands.length = 0;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Maps a failed tool's stderr to our error codes; the first stderr line names the problem. */
export function toolError(file: string, args: readonly string[], result: CommandResult): SwarmnetError {
  const stderr = result.stderr.trim();
  const firstLine = stderr.split("\n").find((l) => l.trim() !== "") ?? `exit code ${result.exitCode}`;
  const command = [file, ...args].join(" ");
  let code: ErrorCode = ErrorCode.KernelRejected;
  if (result.exitCode === 127 && /ENOENT|not found/.test(stderr)) code = ErrorCode.ToolMissing;
  else if (result.exitCode === 124) code = ErrorCode.Timeout;
  else if (/File exists|already exists/i.test(stderr)) code = ErrorCode.KernelExists;
  else if (/Operation not permitted|Permission denied/i.test(stderr)) code = ErrorCode.PermissionDenied;
  else if (
    /Unknown device type|not supported|qdisc kind is unknown|Protocol not supported|Address family not supported|Unknown (?:protocol|family)|Could not process rule: No such file or directory\n.*(?:expression|statement)/i.test(
      stderr,
    )
  )
    code = ErrorCode.KernelUnsupported;
  else if (
    /Cannot find device|does not exist|No such file or directory|No such process|Cannot open network namespace|not found/i.test(
      stderr,
    )
  )
    code = ErrorCode.KernelNotFound;
  return new SwarmnetError(code, `${command}: ${firstLine.replace(/^Error:\s*/, "")}`, {
    cause: new Error(stderr),
    retryable: code === ErrorCode.Timeout,
  });
}

export interface InNetns {
  /** Network namespace to act in; the current one when absent. */
  netns?: string;
}

export interface DetachedProcessOptions extends InNetns {
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: Record<string, string>;
  cwd?: string;
  /** A file the process sees as /etc/resolv.conf (its own mount namespace; see `withResolvConf`). */
  resolvConf?: string;
}

export type { NetnsListeners } from "./netns-listen.js";

/**
 * `argv` run with `file` bind-mounted over /etc/resolv.conf, in a mount namespace of its
 * own (`unshare --mount`), as `ip netns exec` does with /etc/netns/NAME: the host's file is
 * never touched. Propagation `slave`: mounts made on the host later (a namespace another
 * agent adds under /run/netns) still reach the process; its own bind mount goes nowhere.
 */
export function withResolvConf(file: string | undefined, argv: readonly string[]): string[] {
  if (file === undefined) return [...argv];
  return [
    "unshare",
    "--mount",
    "--propagation",
    "slave",
    "--",
    "sh",
    "-c",
    'mount --bind "$0" /etc/resolv.conf && exec "$@"',
    file,
    ...argv,
  ];
}

export interface DetachedProcess {
  pid: number;
  exited: Promise<number | null>;
}

/** Marks the start of a namespace's answer in `ipJsonEach`'s output (JSON never starts so). */
export const EACH_NETNS_MARK = "@netns ";
/** Marks a failed read: the first line of its stderr follows. */
export const EACH_NETNS_FAILED = "!";
/**
 * The shell loop of `ipJsonEach`: namespace names on stdin, `ip -j` arguments as "$@";
 * each namespace's answer follows its mark. A failed read is run again for its stderr
 * (failures are rare: something just went away), whose first line follows the failure mark.
 */
export const EACH_NETNS_SCRIPT = [
  "while read -r ns; do",
  `echo "${EACH_NETNS_MARK}$ns"`,
  'if out=$(ip -n "$ns" -j "$@" 2>/dev/null); then printf "%s\\n" "$out";',
  // ${err%%<newline>*}: the first line (POSIX sh has no $'\\n').
  'else err=$(ip -n "$ns" -j "$@" 2>&1 >/dev/null); printf "' +
    EACH_NETNS_FAILED +
    '%s\\n" "${err%%\n*}"; fi',
  "done",
].join("\n");

/** Tools counted by name in `Executor.spawned`; any other program is counted as `other`. */
const COUNTED_TOOLS = new Set([
  "ip",
  "bridge",
  "nft",
  "sysctl",
  "ss",
  "tc",
  "conntrack",
  "ipvsadm",
  "python3",
  "sh",
  "nsenter",
]);

/** See openNftShell. */
const NFT_MALLOC_TUNABLES = "glibc.malloc.hugetlb=1";

/** The tool a command line runs: `ip netns exec NS nft …` runs nft. */
function toolOf(file: string, args: readonly string[]): string {
  const name = file === "ip" && args[0] === "netns" && args[1] === "exec" ? (args[3] ?? file) : file;
  return COUNTED_TOOLS.has(name) ? name : "other";
}

export class Executor {
  /** Processes started, by tool (`swarmnet_executor_spawns_total`: the cost of kernel work). */
  readonly spawned = new Map<string, number>();

  private listenHelper: NetnsListenHelper | undefined;

  constructor(readonly runner: CommandRunner = new ExecaRunner()) {}

  private count(file: string, args: readonly string[]): void {
    const tool = toolOf(file, args);
    this.spawned.set(tool, (this.spawned.get(tool) ?? 0) + 1);
  }

  /** Runs a kernel tool and returns stdout, or throws the translated error. */
  private async tool(file: string, args: readonly string[], input?: string): Promise<string> {
    this.count(file, args);
    const result = await this.runner.run(file, args, input === undefined ? {} : { input });
    if (result.exitCode !== 0) throw toolError(file, args, result);
    return result.stdout;
  }

  private static ns(o: InNetns): string[] {
    return o.netns === undefined ? [] : ["-n", o.netns];
  }

  ip(args: readonly string[], o: InNetns = {}): Promise<string> {
    return this.tool("ip", [...Executor.ns(o), ...args]);
  }

  /** `ip -j …` parsed; an empty answer is an empty list. */
  async ipJson<T = unknown>(args: readonly string[], o: InNetns = {}): Promise<T[]> {
    const out = await this.ip(["-j", ...args], o);
    return out.trim() === "" ? [] : (JSON.parse(out) as T[]);
  }

  /**
   * `ip -j ARGS` in each of `namespaces`, all read by one process (a shell loop, so the
   * forks are the small shell's, not this process's): per namespace its parsed answer, or
   * undefined when the read failed there (the namespace or the object is gone).
   */
  async ipJsonEach<T = unknown>(
    namespaces: readonly string[],
    args: readonly string[],
  ): Promise<Map<string, T[] | undefined>> {
    const out = new Map<string, T[] | undefined>();
    if (namespaces.length === 0) return out;
    const stdout = await this.tool(
      "sh",
      ["-c", EACH_NETNS_SCRIPT, "sh", ...args],
      namespaces.join("\n") + "\n",
    );
    let current: string | undefined;
    for (const line of stdout.split("\n")) {
      if (line.startsWith(EACH_NETNS_MARK)) {
        out.set((current = line.slice(EACH_NETNS_MARK.length)), undefined);
      } else if (current !== undefined && line.startsWith(EACH_NETNS_FAILED)) {
        // Gone is an answer (undefined); any other failure is the read's own error.
        const err = toolError("ip", ["-n", current, "-j", ...args], {
          exitCode: 1,
          stdout: "",
          stderr: line.slice(EACH_NETNS_FAILED.length),
        });
        if (err.code !== ErrorCode.KernelNotFound) throw err;
      } else if (current !== undefined && line.trim() !== "") {
        out.set(current, JSON.parse(line) as T[]);
      }
    }
    return out;
  }

  /** One `ip -batch -` run; stops at the first failing line and reports it. */
  async ipBatch(lines: readonly string[], o: InNetns = {}): Promise<void> {
    if (lines.length === 0) return;
    await this.tool("ip", [...Executor.ns(o), "-batch", "-"], lines.join("\n") + "\n");
  }

  bridge(args: readonly string[], o: InNetns = {}): Promise<string> {
    return this.tool("bridge", [...Executor.ns(o), ...args]);
  }

  async bridgeJson<T = unknown>(args: readonly string[], o: InNetns = {}): Promise<T[]> {
    const out = await this.bridge(["-j", ...args], o);
    return out.trim() === "" ? [] : (JSON.parse(out) as T[]);
  }

  async bridgeBatch(lines: readonly string[], o: InNetns = {}): Promise<void> {
    if (lines.length === 0) return;
    await this.tool("bridge", [...Executor.ns(o), "-batch", "-"], lines.join("\n") + "\n");
  }

  /** A tool without a namespace flag (nft, ipvsadm, sysctl, ss, conntrack) runs in one through `ip netns exec`. */
  private static inNetns(tool: string, args: readonly string[], o: InNetns): [string, string[]] {
    return o.netns === undefined ? [tool, [...args]] : ["ip", ["netns", "exec", o.netns, tool, ...args]];
  }

  nft(args: readonly string[], o: InNetns = {}): Promise<string> {
    const [file, full] = Executor.inNetns("nft", args, o);
    return this.tool(file, full);
  }

  /** Applies a whole nft script as one atomic transaction (`nft -f -`). */
  async nftApply(script: string, o: InNetns = {}): Promise<void> {
    const [file, full] = Executor.inNetns("nft", ["-f", "-"], o);
    await this.tool(file, full, script);
  }

  /**
   * A long-lived `nft -i` with stderr merged into stdout (in order), for NftSession;
   * undefined when the runner cannot keep a process (unit-test fakes).
   *
   * nft runs with glibc's malloc on transparent huge pages (`glibc.malloc.hugetlb=1`, a
   * no-op where THP is off): a full mesh of 10,000 services × 10 backends makes nft
   * allocate ~230 MB, and perf showed half its time in malloc and in page faults on fresh
   * heap; with huge pages its user time for that script fell from ~1.0 s to ~0.6 s.
   * Tunables already in the agent's environment are kept.
   */
  openNftShell(o: InNetns = {}): LongLivedProcess | undefined {
    const [file, args] = Executor.inNetns(
      "sh",
      ["-c", `GLIBC_TUNABLES="\${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}${NFT_MALLOC_TUNABLES}" exec nft -i 2>&1`],
      o,
    );
    if (this.runner.open === undefined) return undefined;
    this.count(file, args);
    return this.runner.open(file, args);
  }

  /** `ipvsadm ARGS`. */
  ipvsadm(args: readonly string[], o: InNetns = {}): Promise<string> {
    const [file, full] = Executor.inNetns("ipvsadm", args, o);
    return this.tool(file, full);
  }

  /**
   * One `ipvsadm --restore` run: `lines` in `ipvsadm -S` syntax (`-A -f 16777296 -s rr`,
   * `-a -f … -r 10.0.0.5:80 -m -w 1`), read from stdin. Not atomic: ipvsadm applies line
   * by line and stops at the first that fails, reporting it.
   */
  async ipvsadmRestore(lines: readonly string[], o: InNetns = {}): Promise<void> {
    if (lines.length === 0) return;
    const [file, full] = Executor.inNetns("ipvsadm", ["--restore"], o);
    await this.tool(file, full, lines.join("\n") + "\n");
  }

  /** `tc` (traffic control: qdiscs such as netem); `-n` selects the namespace. */
  tc(args: readonly string[], o: InNetns = {}): Promise<string> {
    return this.tool("tc", [...Executor.ns(o), ...args]);
  }

  async sysctl(key: string, value: string, o: InNetns = {}): Promise<void> {
    const [file, full] = Executor.inNetns("sysctl", ["-q", "-w", `${key}=${value}`], o);
    await this.tool(file, full);
  }

  /**
   * Whether a socket of this namespace listens on `port` (`ss`, of iproute2): a program
   * of the node or a host-network container holding a port `-p` wants.
   */
  async listening(protocol: "tcp" | "udp", port: number, o: InNetns = {}): Promise<boolean> {
    const args = ["-H", "-l", "-n", protocol === "tcp" ? "-t" : "-u", `sport = :${port}`];
    const [file, full] = Executor.inNetns("ss", args, o);
    return (await this.tool(file, full)).trim() !== "";
  }

  async netnsAdd(name: string): Promise<void> {
    await this.ip(["netns", "add", name]);
  }

  /** Deletes a namespace; one that is already gone is not an error. */
  async netnsDelete(name: string): Promise<void> {
    try {
      await this.ip(["netns", "delete", name]);
    } catch (err) {
      if (err instanceof SwarmnetError && err.code === ErrorCode.KernelNotFound) return;
      throw err;
    }
  }

  async netnsList(): Promise<string[]> {
    const out = await this.ip(["netns", "list"]);
    return out
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => n !== "");
  }

  /** Pids of every process inside the namespace (`ip netns pids`). */
  async netnsPids(name: string): Promise<number[]> {
    try {
      const out = await this.ip(["netns", "pids", name]);
      return out
        .split("\n")
        .map((l) => Number(l.trim()))
        .filter((n) => Number.isInteger(n) && n > 0);
    } catch (err) {
      if (err instanceof SwarmnetError && err.code === ErrorCode.KernelNotFound) return [];
      throw err;
    }
  }

  /**
   * Runs any program inside a namespace to completion (`ip netns exec`), e.g. a test's
   * ping or curl. Never throws for a non-zero exit; the result says what happened.
   */
  runIn(netns: string, argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.count("ip", ["netns", "exec", netns, ...argv]);
    return this.runner.run("ip", ["netns", "exec", netns, ...argv], options);
  }

  /**
   * Starts a long-lived process inside a namespace, detached from this one (its own
   * process group, output appended to `logFile`). The lab uses it for etcd, agents and
   * managers, the agent for container processes. `exited` settles with the exit code
   * (null when killed by a signal) while this process lives to see it.
   */
  startDetached(argv: readonly string[], options: DetachedProcessOptions): DetachedProcess {
    const [file, args] = this.detachedArgv(argv, options);
    const fd = openSync(options.logFile, "a");
    this.count(file, args);
    try {
      const child = spawn(file, args, {
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, ...options.env },
        cwd: options.cwd,
      });
      child.unref();
      if (child.pid === undefined) {
        throw new SwarmnetError(ErrorCode.ToolMissing, `cannot start ${file}`);
      }
      const exited = new Promise<number | null>((resolve) => {
        child.once("exit", (code) => resolve(code));
        child.once("error", () => resolve(127));
      });
      return { pid: child.pid, exited };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * startDetached through the runner's helper where it has one (the agent's containers: a
   * fork of the agent cost it ~30 ms of CPU per container, issue 16), else startDetached.
   */
  async startDetachedNoFork(
    argv: readonly string[],
    options: DetachedProcessOptions,
  ): Promise<DetachedProcess> {
    const [file, args] = this.detachedArgv(argv, options);
    const env = { ...process.env, ...options.env } as Record<string, string>;
    const started = this.runner.startDetached?.(file, args, {
      logFile: options.logFile,
      env,
      cwd: options.cwd,
    });
    if (started === undefined) return this.startDetached(argv, options);
    this.count(file, args);
    return started;
  }

  /** The program and arguments that start `argv` in its namespace. */
  private detachedArgv(argv: readonly string[], options: DetachedProcessOptions): [string, string[]] {
    // nsenter, not `ip netns exec`: the latter also gives the process a private mount
    // namespace whose mounts never reach the host's, so namespaces an agent creates
    // (`ip netns add` bind-mounts /run/netns/X) would be invisible to everyone else.
    const inner = withResolvConf(options.resolvConf, argv);
    const full =
      options.netns === undefined ? inner : ["nsenter", `--net=/run/netns/${options.netns}`, "--", ...inner];
    const [file, ...args] = full;
    if (file === undefined)
      throw new SwarmnetError(ErrorCode.InvalidArgument, "startDetached: empty command");
    return [file, args];
  }

  /**
   * Runs a command inside a namespace (undefined: this one) attached to this terminal;
   * resolves to its exit code.
   */
  interactive(
    netns: string | undefined,
    argv: readonly string[],
    env: Record<string, string>,
    resolvConf?: string,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      // nsenter (network namespace only) for the reason given at startDetached: a nested
      // `swarmnet` may create namespaces, which must be visible outside this command.
      const inner = withResolvConf(resolvConf, argv);
      const [file = "", ...args] =
        netns === undefined ? inner : ["nsenter", `--net=/run/netns/${netns}`, "--", ...inner];
      const child = spawn(file, args, {
        stdio: "inherit",
        env: { ...process.env, ...env },
      });
      child.on("error", reject);
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }

  /**
   * A UDP socket and a TCP server bound to `host:port` inside each namespace, held by this
   * process (the embedded DNS's 127.0.0.11:53 in each container), made by one long-lived
   * helper (common/netns-listen.ts). No process stays in any namespace. The result has,
   * per namespace, its listeners or why it has none.
   */
  listenIn(
    namespaces: readonly string[],
    host: string,
    port: number,
  ): Promise<Map<string, NetnsListeners | Error>> {
    this.listenHelper ??= new NetnsListenHelper(() => this.count("python3", []));
    return this.listenHelper.listen(namespaces, host, port);
  }

  /** Ends the long-lived helpers this executor started (a later call starts them again). */
  close(): void {
    this.listenHelper?.close();
    this.runner.close?.();
  }

  /**
   * Deletes the conntrack entries matching `filter` (`conntrack -D …`), so the next packet
   * of a matched flow is NATed afresh. Returns how many were deleted; none is not an error.
   */
  async conntrackDelete(filter: ConntrackFilter, o: InNetns = {}): Promise<number> {
    const args = ["-D", ...conntrackFilterArgs(filter)];
    const [file, full] = Executor.inNetns("conntrack", args, o);
    this.count(file, full);
    const result = await this.runner.run(file, full);
    const deleted = /(\d+) flow entries have been deleted/.exec(result.stderr);
    if (result.exitCode === 0 || (result.exitCode === 1 && deleted?.[1] === "0"))
      return Number(deleted?.[1] ?? 0);
    throw toolError(file, full, result);
  }
}

/** Which conntrack entries to match; port fields need `protocol`. */
export interface ConntrackFilter {
  protocol?: "tcp" | "udp";
  origDst?: string;
  origDstPort?: number;
  replySrc?: string;
  replySrcPort?: number;
}

function conntrackFilterArgs(f: ConntrackFilter): string[] {
  if (f.protocol === undefined && (f.origDstPort !== undefined || f.replySrcPort !== undefined))
    throw new SwarmnetError(ErrorCode.InvalidArgument, "conntrack filter: a port needs a protocol");
  const args: string[] = [];
  if (f.protocol !== undefined) args.push("-p", f.protocol);
  if (f.origDst !== undefined) args.push("--orig-dst", f.origDst);
  if (f.origDstPort !== undefined) args.push("--orig-port-dst", String(f.origDstPort));
  if (f.replySrc !== undefined) args.push("--reply-src", f.replySrc);
  if (f.replySrcPort !== undefined) args.push("--reply-port-src", String(f.replySrcPort));
  return args;
}

/**
 * Small helpers about processes: liveness, a bounded graceful stop, finding a program on
 * PATH, and waiting for the signal that ends a long-lived command. Only signals and /proc reads: spawning lives in the executor.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; it is not running.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is alive and `ours` recognises its command line (pids get reused). An
 * empty command line counts as ours: a process just spawned shows none until it has
 * exec'd its program (measured: the first look after spawn saw "" in 60 of 60 starts),
 * and a lab process is exec'd twice (nsenter, then node) — a check in that instant took a
 * starting agent for one that had exited ("agent on n3 exited at start").
 */
export function isAliveAs(pid: number, ours: (cmd: string) => boolean): boolean {
  if (!isAlive(pid)) return false;
  const cmd = cmdline(pid);
  return cmd === "" || ours(cmd);
}

/** The fields of /proc/PID/stat after the command name (index 0 is the state, 1 the parent). */
export function statOf(pid: number | "self"): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat
    .slice(stat.lastIndexOf(")") + 2)
    .split(" ")
    .map(Number);
}

/** The live children of `pid` whose command line `ours` recognises (a /proc scan). */
export function childrenOf(pid: number, ours: (cmd: string) => boolean): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((child) => {
      try {
        return statOf(child)[1] === pid && ours(cmdline(child));
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** The process's command line, or "" if it is gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL whatever is left; resolves when all are gone.
 * `group`: each pid leads a process group (started detached) and the signals go to the group.
 */
export async function stopProcesses(
  pids: readonly number[],
  graceMs = 3000,
  options: { group?: boolean } = {},
): Promise<void> {
  const live = pids.filter(isAlive);
  const send = (pid: number, sig: NodeJS.Signals) => {
    if (options.group === true) signal(-pid, sig);
    signal(pid, sig);
  };
  for (const pid of live) send(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of live) if (options.group === true || isAlive(pid)) send(pid, "SIGKILL");
  const hard = Date.now() + 2000;
  while (live.some(isAlive) && Date.now() < hard) await sleep(20);
}

export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const full = join(dir, program);
    if (dir !== "" && existsSync(full)) return full;
  }
  return undefined;
}

/**
 * The Python the agent's helpers run (common/command-helper.py, netns-listen.py): Debian's
 * /usr/bin/python3, which deploy/install.sh installs, before whatever `python3` is first
 * on PATH. A version manager's shim there (pyenv's on this machine kind) is a shell
 * script that costs ~0.9 s per start against ~0.03 s, and a helper starts with the agent
 * and with its first DNS container (it was a `run`'s whole p99: issue 16).
 */
export function python3(): string | undefined {
  return existsSync(DEBIAN_PYTHON) ? DEBIAN_PYTHON : findOnPath("python3");
}
const DEBIAN_PYTHON = "/usr/bin/python3";

/**
 * Resolves on SIGTERM or SIGINT, keeping the process alive until then (long-lived commands).
 * `cancel` aborted stops the wait (the promise then never settles) and lets the process
 * exit: a command whose start failed must not linger.
 */
export function untilSignal(cancel?: AbortSignal): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const stop = () => {
      clearInterval(keepAlive);
      process.off("SIGTERM", done);
      process.off("SIGINT", done);
    };
    const done = (sig: NodeJS.Signals) => {
      stop();
      resolve(sig);
    };
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
    cancel?.addEventListener("abort", stop, { once: true });
  });
}

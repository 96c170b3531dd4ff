/**
 * A tcpdump capture on one interface of a namespace for the duration of an action:
 * started detached through the executor, ready once tcpdump says it is listening,
 * stopped with SIGINT so it flushes, read back as frames. A 32 MiB capture buffer (-B)
 * so a fast transfer on a loaded machine is not mostly dropped before tcpdump writes it;
 * a capture may still miss packets, so callers check it saw a good share, never all.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Executor } from "../../../common/executor.js";
import { stopProcesses } from "../../../common/process.js";
import { testSlowdown } from "../../support/slowdown.js";
import { readPcap } from "./pcap.js";

const READY_TIMEOUT_MS = 10_000 * testSlowdown();
/** After the action, for its last packets to reach the file (tcpdump -U writes each one). */
const FLUSH_MS = 300 * testSlowdown();

export async function captureDuring<T>(
  ex: Executor,
  netns: string,
  iface: string,
  dir: string,
  name: string,
  action: () => Promise<T>,
): Promise<{ result: T; frames: Buffer[] }> {
  const file = join(dir, `${name}.pcap`);
  const log = join(dir, `${name}.tcpdump.log`);
  const proc = ex.startDetached(
    ["tcpdump", "-n", "-U", "--immediate-mode", "-B", "32768", "-s", "0", "-i", iface, "-w", file],
    { netns, logFile: log },
  );
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(existsSync(log) && /listening on/.test(readFileSync(log, "utf8")))) {
      if (Date.now() > deadline) throw new Error(`tcpdump did not start: ${readFileSync(log, "utf8")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await action();
    await new Promise((r) => setTimeout(r, FLUSH_MS));
    process.kill(proc.pid, "SIGINT");
    await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5000))]);
    return { result, frames: readPcap(file) };
  } finally {
    await stopProcesses([proc.pid], 1000);
  }
}

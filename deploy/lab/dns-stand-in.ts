/**
 * The outside world's DNS, as the lab stands it in: dnsmasq (Debian's dnsmasq-base) in the
 * lab's `client` namespace on the client's address, answering a few fixed names and
 * nothing else (no upstream of its own, no host files): what the nodes' embedded DNS
 * forwards to (every lab agent's upstream is the client, see lab.ts). Tests and the DNS
 * benchmark start and stop it; nothing in the lab reaches a real resolver.
 */
import type { Executor } from "../../common/executor.js";
import { join } from "node:path";
import { CLIENT_ADDRESS } from "./layout.js";
import { labDir } from "./state.js";

/** Names the stand-in answers, all with the client's address. */
export const STAND_IN_NAMES = ["www.outside.test"];

/**
 * Starts dnsmasq in lab `lab`'s client namespace; returns its pid (stop it with
 * stopProcesses). Its log is in the lab's folder, which `lab down` removes.
 */
export function startDnsStandIn(ex: Executor, lab: string): number {
  return ex.startDetached(
    [
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      "--pid-file=",
      "--bind-interfaces",
      `--listen-address=${CLIENT_ADDRESS}`,
      ...STAND_IN_NAMES.map((n) => `--host-record=${n},${CLIENT_ADDRESS}`),
    ],
    { netns: `sn-${lab}-client`, logFile: join(labDir(lab), "client-dnsmasq.log") },
  ).pid;
}

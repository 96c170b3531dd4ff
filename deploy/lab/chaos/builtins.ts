/**
 * The built-in scenarios, written exactly as a scenario file would be and validated by
 * the same parser. They are sized for the lab (5 nodes, 3 managers, a 3-replica
 * published service; `rolling-agent-restart` names n1…n5) and each takes under a minute
 * before settling, so the whole set is a benchmark of about ten minutes and a few of
 * them fit in the test suite.
 *
 * Every scenario starts with a quiet `wait` (a baseline of traffic before the first
 * fault) and ends with `heal` plus a `wait`, so what is measured after it is recovery.
 */
import { SETUP } from "./setup.js";
import { scenarioFrom, type Scenario } from "./scenario.js";

const S = SETUP.service;
const wait = (duration: string) => ({ step: "wait", duration });

const RAW: Record<string, object> = {
  "node-crash": {
    description: "a node running a task loses its link and its agent (SIGKILL); back after 30 s",
    steps: [
      wait("5s"),
      { step: "kill", process: "agent", target: `random node-with-task ${S}`, as: "victim" },
      { step: "link-down", target: "$victim" },
      wait("30s"),
      { step: "heal" },
      wait("10s"),
    ],
  },
  "agent-crash": {
    description:
      "the agent of a node running a task is killed (SIGKILL) and started again 10 s later; its link stays up",
    steps: [
      wait("5s"),
      { step: "kill", process: "agent", target: `random node-with-task ${S}`, as: "victim" },
      wait("10s"),
      { step: "heal" },
      wait("15s"),
    ],
  },
  "manager-failover": {
    description: "the leading manager is killed (SIGKILL); another takes over; it comes back after 20 s",
    steps: [
      wait("5s"),
      { step: "kill", process: "manager", target: "leader" },
      wait("20s"),
      { step: "heal" },
      wait("10s"),
    ],
  },
  "etcd-quorum-loss": {
    description:
      "two of three etcd members are paused (SIGSTOP) for 20 s: no quorum, the data plane keeps serving",
    steps: [
      wait("5s"),
      { step: "stop", process: "etcd", target: "random 2 manager" },
      wait("20s"),
      { step: "heal" },
      wait("10s"),
    ],
  },
  "partition-minority": {
    description: "one worker is cut from every other node (both directions) for 30 s, then healed",
    steps: [
      wait("5s"),
      { step: "partition", groups: [["random worker"], ["rest"]] },
      wait("30s"),
      { step: "heal" },
      wait("15s"),
    ],
  },
  "flapping-link": {
    description: "a worker's underlay link goes down for 2 s and up for 3 s, four times",
    steps: [
      wait("5s"),
      ...[0, 1, 2, 3].flatMap((i) => [
        i === 0
          ? { step: "link-down", target: "random worker", as: "flapper" }
          : { step: "link-down", target: "$flapper" },
        wait("2s"),
        { step: "link-up", target: "$flapper" },
        wait("3s"),
      ]),
      wait("10s"),
    ],
  },
  "join-storm": {
    description: "three new workers join at once while traffic runs",
    steps: [wait("5s"), { step: "join", count: 3 }, wait("20s")],
  },
  "rolling-agent-restart": {
    description: "every node's agent is restarted (SIGTERM, start again) in turn, 8 s apart",
    steps: [
      wait("5s"),
      ...["n1", "n2", "n3", "n4", "n5"].flatMap((n) => [
        { step: "restart", process: "agent", target: n },
        wait("8s"),
      ]),
    ],
  },
  "lossy-underlay": {
    description:
      "a worker's underlay drops 20 % of packets (and would add 50 ms delay where netem exists) for 20 s",
    steps: [
      wait("5s"),
      { step: "loss", percent: 20, target: "random worker", as: "lossy" },
      { step: "delay", delay: "50ms", target: "$lossy" },
      wait("20s"),
      { step: "heal" },
      wait("10s"),
    ],
  },
};

export const BUILTIN_NAMES = Object.keys(RAW);

export function builtinScenario(name: string): Scenario | undefined {
  const raw = RAW[name];
  return raw === undefined ? undefined : scenarioFrom({ name, ...raw }, name);
}

export function builtinScenarios(): Scenario[] {
  return BUILTIN_NAMES.map((n) => scenarioFrom({ name: n, ...RAW[n] }, n));
}

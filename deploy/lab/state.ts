/**
 * The lab's record on disk: one folder per lab (default /run/swarmnet/lab/<name>, or
 * $SWARMNET_LAB_ROOT/<name>) holding state.json (layout parameters and every pid the lab
 * started), a bin/ folder with the `swarmnet` shim put on PATH by `lab exec`, and one
 * folder per node with its logs, etcd data and the CLI config. The folder is written
 * before anything is built, so `lab down` after a crash still knows what to remove;
 * namespaces are also found by name, so even a lost folder leaves nothing behind.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, renameSync } from "node:fs";
import { join } from "node:path";

import type { LabVmState } from "./vm-nodes.js";

/** etcd, manager, agent: swarmnet's own; qemu and vmctl (its control relay): a VM node's machine. */
export type LabProcessKind = "etcd" | "manager" | "agent" | "qemu" | "vmctl";

export interface LabProcess {
  node: string;
  kind: LabProcessKind;
  pid: number;
  /** The command line, so `lab restart` can start it again as it was. */
  argv: string[];
  /** The pid is inside the node's VM, not on this host. */
  inVm?: boolean;
}

export interface LabState {
  name: string;
  nodes: number;
  managers: number;
  createdAt: string;
  processes: LabProcess[];
  /** `lab up --agent-resync-interval`: every agent's `--resync-interval` (absent: its default). */
  agentResyncInterval?: string;
  /** Present when some nodes are VMs. */
  vm?: LabVmState;
}

export function labRoot(): string {
  return process.env["SWARMNET_LAB_ROOT"] ?? "/run/swarmnet/lab";
}

export function labDir(name: string): string {
  return join(labRoot(), name);
}

export function nodeDir(name: string, node: string): string {
  return join(labDir(name), node);
}

export function readState(name: string): LabState | undefined {
  const file = join(labDir(name), "state.json");
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LabState;
  } catch {
    return undefined; // torn write after a crash: down falls back to finding by name
  }
}

export function writeState(state: LabState): void {
  const dir = labDir(state.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, "state.json.tmp");
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, join(dir, "state.json"));
}

export function removeLabDir(name: string): void {
  rmSync(labDir(name), { recursive: true, force: true });
}

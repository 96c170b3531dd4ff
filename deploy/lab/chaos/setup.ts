/**
 * The workload every scenario runs under, made once per lab and reused by later runs:
 * an attachable overlay `chaosnet`, a service `chaosweb` (3 replicas of `swarmnet whoami`
 * on chaosnet, published on 8080 through the routing mesh) and a standalone container
 * `chaosprobe` on chaosnet on n1, from which the east-west traffic is sent (to the
 * service's VIP and to each task's address). Made through the CLI, as a person would.
 *
 * `ready` waits by behaviour: every task running and every node's published port
 * answering a few requests in a row, so a scenario's first fault meets a healthy lab.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import { intentFrom, isRunning } from "./intent.js";
import type { LabAccess } from "./lab-access.js";

export const SETUP = {
  network: "chaosnet",
  service: "chaosweb",
  replicas: 3,
  publishedPort: 8080,
  targetPort: 80,
  probe: "chaosprobe",
  probeNode: "n1",
} as const;

/**
 * Generous: a 2-core machine shared with parallel test runs and VMs (load average 30+) was
 * seen taking over 2 minutes to start three tasks and program five nodes.
 */
const READY_TIMEOUT_MS = 300_000;
const POLL_MS = 1000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProbeContainer {
  node: string;
  netns: string;
}

async function must(access: LabAccess, node: string, args: string[]): Promise<string> {
  const r = await access.cli(node, args);
  if (!r.ok)
    throw new SwarmnetError(ErrorCode.Unavailable, `swarmnet ${args.slice(0, 2).join(" ")}: ${r.err}`);
  return r.out;
}

/** Creates what is missing of the workload; returns the probe container. */
export async function ensureSetup(access: LabAccess): Promise<ProbeContainer> {
  const node = SETUP.probeNode;
  const networks = await access.control<{ Name: string }[]>(["network", "ls", "--format", "json"]);
  if (!networks.some((n) => n.Name === SETUP.network)) {
    await must(access, node, ["network", "create", "-d", "overlay", "--attachable", SETUP.network]);
  }
  const services = await access.control<{ Name: string }[]>(["service", "ls", "--format", "json"]);
  if (!services.some((s) => s.Name === SETUP.service)) {
    await must(access, node, [
      "service",
      "create",
      "--name",
      SETUP.service,
      "--replicas",
      String(SETUP.replicas),
      "--network",
      SETUP.network,
      "--publish",
      `${SETUP.publishedPort}:${SETUP.targetPort}`,
      "--",
      "swarmnet",
      "whoami",
      "--port",
      String(SETUP.targetPort),
    ]);
  }
  const listed = await access.agent(node).list(false);
  let probe = listed.containers.find((c) => c.name === SETUP.probe && c.status === "running");
  if (probe === undefined) {
    await access.cli(node, ["rm", "-f", SETUP.probe]);
    await must(access, node, [
      "run",
      "-d",
      "--name",
      SETUP.probe,
      "--network",
      SETUP.network,
      "--",
      "sleep",
      "infinity",
    ]);
    probe = (await access.agent(node).list(false)).containers.find((c) => c.name === SETUP.probe);
  }
  if (probe === undefined)
    throw new SwarmnetError(ErrorCode.Unavailable, `container ${SETUP.probe} did not start on ${node}`);
  return { node, netns: probe.netns };
}

/** The service's virtual IP on chaosnet. */
export async function serviceVip(access: LabAccess): Promise<string> {
  const [svc] = await access.control<{ Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[]>([
    "service",
    "inspect",
    SETUP.service,
  ]);
  const [net] = await access.control<{ Id: string }[]>(["network", "inspect", SETUP.network]);
  const vip = svc?.Endpoint.VirtualIPs.find((v) => v.NetworkID === net?.Id)?.Addr;
  if (vip === undefined)
    throw new SwarmnetError(ErrorCode.NotFound, `${SETUP.service} has no VIP on ${SETUP.network}`);
  return vip.split("/")[0] ?? vip;
}

/** Waits until every replica runs and every node's published port answers three times in a row. */
export async function waitReady(access: LabAccess, nodes: readonly string[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let why = "";
  for (;;) {
    const intent = intentFrom(await access.etcd().catch(() => new Map<string, string>()));
    const running = intent.tasks.filter((t) => t.serviceName === SETUP.service && isRunning(t));
    if (running.length !== SETUP.replicas) why = `${running.length} of ${SETUP.replicas} tasks running`;
    else {
      const failing: string[] = [];
      for (const n of nodes) {
        const url = `http://${access.node(n).address}:${SETUP.publishedPort}/`;
        for (let i = 0; i < 3; i++) {
          const r = await access.ex.runIn(access.layout().client.netns, [
            "curl",
            "-sf",
            "-m",
            "2",
            "-o",
            "/dev/null",
            url,
          ]);
          if (r.exitCode !== 0) {
            failing.push(n);
            break;
          }
        }
      }
      if (failing.length === 0) return;
      why = `published port not answering through ${failing.join(", ")}`;
    }
    if (Date.now() > deadline)
      throw new SwarmnetError(ErrorCode.Timeout, `the lab did not become ready: ${why}`);
    await sleep(POLL_MS);
  }
}

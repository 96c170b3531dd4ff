/**
 * Issues a burst of changes (burst-plan.ts) to a running lab from one process, through the
 * project's own clients: the managers' gRPC services (`ManagerClient`, as the CLI acts as
 * its node: mutual TLS with the node's certificate) for services, and each node's agent
 * control socket (`AgentClient`) for standalone containers. One process instead of a CLI
 * start per change (about 0.3 s each): a thousand changes arrive as a burst on the fast
 * path, which is what the fast-path-vs-resync test needs.
 *
 * The lab has no route from the host, so this runs as a program inside a manager node's
 * namespace (`node burst-driver.js '<json options>'`, with the environment `lab exec`
 * gives that node); the agents' sockets are files, reachable from there.
 *
 * Concurrency is bounded (`concurrency` calls in flight); changes to one object go in plan
 * order, changes to different objects overlap. Nothing waits for convergence: a service
 * call returns once the managers committed it. Prints one JSON object (`BurstReport`) on
 * stdout; a failed call is recorded with its change, never thrown.
 */
import { join } from "node:path";
import { AgentClient } from "../../agent/control/client.js";
import { withManagers, type ManagerClient } from "../../cli/manager-client.js";
import { errorMessage } from "../../common/errors.js";
import { parsePublishSpec } from "../../common/publish-spec.js";
import { nodeDir } from "../../deploy/lab/state.js";
import type { PublishedPort } from "../../proto/generated/swarmnet/v1/PublishedPort.js";
import {
  changeKey,
  describeChange,
  planBurst,
  PORTS,
  type BurstChange,
  type BurstOptions,
  type BurstPort,
} from "./burst-plan.js";

export interface BurstDriverOptions extends BurstOptions {
  lab: string;
  /** Calls in flight at once. */
  concurrency: number;
}

export interface BurstReport {
  issued: number;
  byKind: Record<string, number>;
  /** Per kind: calls' total and longest time in ms (where the burst's time goes). */
  msByKind: Record<string, { total: number; max: number }>;
  /** The first failures (change, error), at most 20. */
  errors: { change: string; error: string }[];
  failed: number;
  ms: number;
}

/**
 * What every task and container runs: a process that listens on every port the plan
 * publishes (burst-plan.ts PORTS), so a task is ready at once (agent/sandbox/readiness.ts).
 * A task that never listened would turn into a backend by the clock 60 s after it
 * started, which could fall between the kernel readings before and after the resync.
 */
const COMMAND = [
  "python3",
  "-c",
  [
    "import socket, time",
    "held = []",
    `for proto, port in ${JSON.stringify(PORTS.map((p) => [p.protocol, p.target]))}:`,
    "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)",
    "    s.bind(('', port))",
    "    if proto == 'tcp': s.listen()",
    "    held.append(s)",
    "time.sleep(3600)",
  ].join("\n"),
];

function wirePort(p: BurstPort): PublishedPort {
  const spec = parsePublishSpec(`${p.target}/${p.protocol}`);
  return { ...spec, publishedPort: spec.publishedPort ?? 0 };
}

async function issue(c: BurstChange, managers: ManagerClient, agent: (node: string) => AgentClient) {
  switch (c.kind) {
    case "service-create":
      return managers.call((m, o, cb) =>
        m.services.Create(
          {
            name: c.service,
            mode: "replicated",
            replicasSet: true,
            replicas: c.replicas,
            networks: [c.network],
            ports: c.ports.map(wirePort),
            endpointMode: "vip",
            command: COMMAND,
            env: {},
          },
          o,
          cb,
        ),
      );
    case "service-scale":
      return managers.call((m, o, cb) =>
        m.services.Update({ service: c.service, replicasSet: true, replicas: c.replicas }, o, cb),
      );
    case "service-publish":
      return managers.call((m, o, cb) =>
        m.services.Update({ service: c.service, publishAdd: [wirePort(c.port)] }, o, cb),
      );
    case "service-unpublish":
      return managers.call((m, o, cb) =>
        m.services.Update({ service: c.service, publishRm: [wirePort(c.port)] }, o, cb),
      );
    case "service-rm":
      return managers.call((m, o, cb) => m.services.Remove({ service: c.service }, o, cb));
    case "container-run":
      return agent(c.node).run({
        name: c.container,
        networks: [{ network: c.network, ip: "", aliases: [] }],
        command: COMMAND,
        env: {},
        detach: true,
        ports: [],
      });
    case "container-rm":
      return agent(c.node).remove(c.container, true);
  }
}

/** Runs `changes` with at most `concurrency` in flight, each object's changes in order. */
async function runBounded(
  changes: readonly BurstChange[],
  concurrency: number,
  each: (c: BurstChange) => Promise<void>,
): Promise<void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    while (active >= concurrency) await new Promise<void>((r) => waiting.push(r));
    active++;
  };
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  const tails = new Map<string, Promise<void>>();
  for (const c of changes) {
    const key = changeKey(c);
    const next = (tails.get(key) ?? Promise.resolve()).then(async () => {
      await acquire();
      try {
        await each(c);
      } finally {
        release();
      }
    });
    tails.set(key, next);
  }
  await Promise.all(tails.values());
}

export async function driveBurst(o: BurstDriverOptions): Promise<BurstReport> {
  const { changes } = planBurst(o);
  const agents = new Map<string, AgentClient>();
  const agent = (node: string): AgentClient => {
    let a = agents.get(node);
    if (a === undefined) {
      a = new AgentClient(join(nodeDir(o.lab, node), "agent.sock"));
      agents.set(node, a);
    }
    return a;
  };
  const report: BurstReport = { issued: 0, byKind: {}, msByKind: {}, errors: [], failed: 0, ms: 0 };
  const started = Date.now();
  await withManagers(undefined, (managers) =>
    runBounded(changes, o.concurrency, async (c) => {
      report.issued++;
      report.byKind[c.kind] = (report.byKind[c.kind] ?? 0) + 1;
      const t0 = Date.now();
      try {
        await issue(c, managers, agent);
      } catch (err) {
        report.failed++;
        if (report.errors.length < 20)
          report.errors.push({ change: describeChange(c), error: errorMessage(err) });
      } finally {
        const ms = Date.now() - t0;
        const k = (report.msByKind[c.kind] ??= { total: 0, max: 0 });
        k.total += ms;
        k.max = Math.max(k.max, ms);
      }
    }),
  );
  report.ms = Date.now() - started;
  return report;
}

const arg = process.argv[2];
if (arg !== undefined && process.argv[1]?.endsWith("burst-driver.js") === true) {
  driveBurst(JSON.parse(arg) as BurstDriverOptions).then(
    (r) => process.stdout.write(JSON.stringify(r) + "\n"),
    (err: unknown) => {
      process.stderr.write(`burst driver: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}

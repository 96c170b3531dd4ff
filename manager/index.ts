/**
 * The manager's public face. `runManager` runs a manager process until SIGTERM; the
 * `Manager` class composes the store over etcd, IPAM, networks, the cluster, the
 * dispatcher and leader election (see `manager.ts`). Everything else is exported for
 * tests and benchmarks; agents never import this folder (they speak gRPC).
 */
import { errorMessage } from "../common/errors.js";
import { HttpEndpoint } from "../common/http-endpoint.js";
import { createLogger } from "../common/logger.js";
import { metricsRoute } from "../common/metrics.js";
import { untilSignal } from "../common/process.js";
import { traceRoute } from "../common/trace-ring.js";
import { loadManagerConfig, type ManagerConfig } from "./config.js";
import { Manager } from "./manager.js";
import { managerMetrics } from "./manager-metrics.js";
import { LivePage } from "./ui/live-page.js";

export { Manager, type ManagerDeps } from "./manager.js";
export { loadManagerConfig, MANAGER_DEFAULTS, type ManagerConfig } from "./config.js";
export * as store from "./store/index.js";
export * as ipam from "./ipam/index.js";
export * as allocator from "./allocator/index.js";
export * as cluster from "./cluster/index.js";
export * as networks from "./networks/index.js";
export * as election from "./election/index.js";
export * as keys from "./keys/index.js";
export {
  IntentView,
  type ChangeBatch,
  type IntentChange,
  type IntentSnapshot,
} from "./dispatcher/intent-view.js";
export { Dispatcher, type SessionOutput, type SessionSink } from "./dispatcher/dispatcher.js";

/** Runs a manager until SIGTERM or SIGINT. */
export async function runManager(flags: Partial<Record<keyof ManagerConfig, unknown>>): Promise<void> {
  const config = loadManagerConfig(flags);
  const log = createLogger("manager").child({ node: config.nodeName });
  const manager = new Manager(config, { log });
  const http = new HttpEndpoint(config.metricsAddr, log.child({ component: "http" }));
  http.route("/metrics", metricsRoute(managerMetrics(manager)));
  http.route("/trace", traceRoute());
  const page = new LivePage(manager);
  page.routes(http);
  await http.start();
  const failed = new AbortController();
  const stopping = untilSignal(failed.signal);
  try {
    await Promise.race([manager.start(), stopping]);
  } catch (err) {
    // A manager that cannot start (its state dir, its ports) exits with its error, for a
    // supervisor to restart it, instead of lingering with only its HTTP endpoint.
    failed.abort();
    page.stop();
    await http.stop();
    // The start's error is the one to report; a failure to undo part of it is logged.
    await manager
      .stop()
      .catch((stopErr: unknown) => log.warn({ err: errorMessage(stopErr) }, "stop after a failed start"));
    throw err;
  }
  await stopping;
  page.stop();
  await http.stop();
  await manager.stop();
  log.info("manager stopped");
}

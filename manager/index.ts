/**
 * The manager's public face: `runManager` starts a manager process and keeps it up until
 * SIGTERM. The store over etcd, IPAM, the gRPC services and leader election plug in here.
 */
import { createLogger } from "../common/logger.js";

export interface ManagerOptions {
  nodeName: string | undefined;
  listen: string;
  etcd: string[];
}

export async function runManager(options: ManagerOptions): Promise<void> {
  const log = createLogger("manager");
  log.info({ node: options.nodeName, listen: options.listen, etcd: options.etcd }, "manager started");
  await new Promise<void>((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      resolve();
    };
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
  log.info({ node: options.nodeName }, "manager stopped");
}

/**
 * The `host` driver (Docker's host network): a container on it has no network namespace
 * of its own — its process runs in the node's, shares every interface, address and port
 * of the node, and gets no endpoint of its own. So there is nothing to build and no
 * kernel state to keep: no reconciler. A container on the host network may be on no other
 * network (the sandbox refuses `network connect`, as Docker does).
 */
import type { JoinInfo, NetworkDriver } from "../driver.js";

export const HOST = "host";

export class HostDriver implements NetworkDriver {
  readonly name = HOST;
  readonly sandbox = "host" as const;
  readonly needsAddress = false;
  readonly reconcilers = [];

  unavailable(): undefined {
    return undefined;
  }

  async createNetwork(): Promise<void> {}

  createEndpoint() {
    return { mac: "", mtu: 0, driverData: {} };
  }

  join(): JoinInfo {
    return { gatewayBridge: false };
  }

  factData(): undefined {
    return undefined;
  }
}

/**
 * The `host` driver (Docker's host network): a container on it has no network namespace
 * of its own — its process runs in the node's, shares every interface, address and port
 * of the node, and gets no endpoint of its own. So there is nothing to build and no
 * kernel state to keep. A container on the host network may be on no other network (the
 * sandbox refuses `network connect`, as Docker does).
 */
import { StacklessDriver } from "../stackless.js";

export const HOST = "host";

export class HostDriver extends StacklessDriver {
  constructor() {
    super(HOST, "host");
  }
}

/**
 * The `null` driver (Docker's `none` network): a container on it gets a namespace of its
 * own holding only `lo` — no interface, no address, no route. The sandbox runtime makes
 * that namespace; the driver has no kernel state of its own. Like Docker, a container on
 * `none` may be on no other network.
 */
import { StacklessDriver } from "../stackless.js";

export const NULL = "null";

export class NullDriver extends StacklessDriver {
  constructor() {
    super(NULL, "none");
  }
}

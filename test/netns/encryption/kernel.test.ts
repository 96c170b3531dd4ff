/**
 * The same scenario on the kernel backend where the running kernel has ESP with AES-GCM;
 * elsewhere (as on this development machine) it is skipped with the probe's reason.
 */
import { encryptedOverlaySuite } from "./scenario.js";

encryptedOverlaySuite("kernel");

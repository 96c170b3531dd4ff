/** The encrypted overlay on this kernel's user-space backend (scenario.ts). */
import { encryptedOverlaySuite } from "./scenario.js";

encryptedOverlaySuite("userspace");

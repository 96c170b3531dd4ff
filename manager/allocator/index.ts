/** The allocator's public face: VNIs and published ports (see `allocator.ts`). */
export { checkRequested, lowestFree, PUBLISHED_PORT_RANGE, VNI_RANGE, type IntRange } from "./allocator.js";

/**
 * The key manager: the cluster's data-plane and gossip keys (three of each, Lamport
 * tags), rotated on the leader's schedule or on demand, one transaction per rotation.
 * Agents get the rings through the dispatcher stream only (dispatcher/intent-view.ts).
 */
export {
  KEY_KINDS,
  keyFromRecord,
  ringFromRecords,
  ringTags,
  type KeyKind,
  type KeyTagView,
} from "./key-records.js";
export {
  checkRotationInterval,
  lastRotationAt,
  MAX_KEY_ROTATION_INTERVAL_MS,
  MIN_KEY_ROTATION_INTERVAL_MS,
  nextRotationAt,
  planRotation,
  rotationDue,
  type RotationPlan,
} from "./rotation-plan.js";
export { KeyManager, type RotationResult } from "./key-manager.js";
export { KeyRotationJob, type ClusterSource, type KeyRotationJobOptions } from "./key-rotation-job.js";

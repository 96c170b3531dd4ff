/**
 * Services' public face: the intent of `swarmnet service …` (create, update, publish,
 * scale, rm, ps), the scheduler that turns services into tasks on nodes (a leader job),
 * and the task status agents report.
 */
export {
  ServiceControl,
  resolveService,
  type ServiceControlOptions,
  type ServiceView,
  type TaskView,
} from "./service-control.js";
export {
  applyConstraintChanges,
  parseServiceSpec,
  parseUpdateSpec,
  parseUpdateMonitor,
  checkServiceName,
  DEFAULT_UPDATE_MONITOR_MS,
  MAX_REPLICAS,
  type CreateServiceInput,
  type PortInput,
  type ServiceSpec,
  type UpdateServiceInput,
  type UpdateSpec,
} from "./service-spec.js";
export {
  constraintHolds,
  constraintsExplanation,
  nodeMatches,
  parseConstraint,
  parseConstraints,
  sameConstraint,
  storedConstraints,
  type Constraint,
  type ConstraintNode,
  type ConstraintOperator,
} from "./placement-constraints.js";
export { planPorts, hasIngressPort, hasHostPort, type PortPlan, type TakenPort } from "./ports.js";
export {
  planService,
  type Decision,
  type NodeCondition,
  type SchedulerNode,
  type SchedulerOptions,
} from "./scheduler.js";
export { SchedulerJob, type SchedulerJobDeps, type SchedulerJobOptions } from "./scheduler-job.js";
export { applyReport, applyTaskStatus, type ReportedState, type TaskStatusUpdate } from "./task-status.js";
export {
  containerName,
  effectiveNetworks,
  isLive,
  isTerminal,
  taskEnv,
  taskName,
  taskSync,
  type TaskSync,
} from "./tasks.js";
export { ServiceTxn } from "./service-txn.js";
export {
  serviceIntent,
  taskIntent,
  type IngressEndpointIntent,
  type ServiceDetail,
  type TaskIntent,
} from "./intent.js";

/** `swarmnet lab chaos`: scripted faults on a running lab, invariants, a report and a picture. */
export { BUILTIN_NAMES, builtinScenario, builtinScenarios } from "./builtins.js";
export { LabAccess } from "./lab-access.js";
export { formatPlan, planScenario, staticView, type PlannedStep } from "./plan.js";
export { renderSummary, type ChaosReport } from "./report.js";
export { chaosDir, runScenario, validateOnLab } from "./runner.js";
export { parseScenario, type Scenario } from "./scenario.js";

/**
 * `swarmnet lab chaos`: runs built-in or file scenarios on a running lab (deploy/lab/chaos)
 * and prints the table, or the benchmark's JSON. Apart from cli/lab.ts so that only this
 * command loads the chaos runner and its gRPC clients.
 */
import { existsSync, readFileSync } from "node:fs";
import { ErrorCode, errorMessage, SwarmnetError } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import {
  BUILTIN_NAMES,
  builtinScenario,
  formatPlan,
  LabAccess,
  parseScenario,
  planScenario,
  renderSummary,
  runScenario,
  staticView,
  validateOnLab,
  type ChaosReport,
  type Scenario,
} from "../deploy/lab/chaos/index.js";
import { Lab } from "../deploy/lab/lab.js";
import { labLayout, MAX_LAB_NODES, parseCount } from "../deploy/lab/layout.js";
import { readState } from "../deploy/lab/state.js";
import { print, printJson, renderTable } from "./output.js";

export async function labChaos(names: string[], o: ChaosFlags): Promise<void> {
  if (o.list) {
    print(
      renderTable(
        ["SCENARIO", "DESCRIPTION"],
        BUILTIN_NAMES.map((n) => [n, builtinScenario(n)?.description ?? ""]),
      ),
    );
    return;
  }
  const scenarios = chaosScenarios(names, o.all ?? false);
  const seed = o.seed === undefined ? undefined : parseCount("seed", o.seed, 0, 2 ** 32 - 1);
  const ex = new Executor();
  const lab = new Lab(ex);
  if (o.plan) {
    const state = readState(o.name);
    const layout =
      state === undefined
        ? labLayout(
            o.name,
            parseCount("nodes", o.nodes, 1, MAX_LAB_NODES),
            parseCount("managers", o.managers, 1, MAX_LAB_NODES),
          )
        : labLayout(state.name, state.nodes, state.managers, state.vm?.nodes);
    const plans = scenarios.map((sc) => ({
      scenario: sc.name,
      seed: seed ?? sc.seed,
      steps: planScenario(sc, seed ?? sc.seed, staticView(layout.nodes)),
    }));
    if (o.json)
      return printJson(
        plans.map((p) => ({
          ...p,
          steps: p.steps.map((x) => ({ index: x.index, step: x.text, nodes: x.nodes, groups: x.groups })),
        })),
      );
    for (const p of plans) print([`${p.scenario} (seed ${p.seed}):`, ...formatPlan(p.steps)].join("\n"));
    return;
  }
  const access = new LabAccess(ex, lab, o.name);
  // Every scenario is checked against the lab before the first one runs.
  for (const sc of scenarios) validateOnLab(access, sc, seed ?? sc.seed);
  // A scenario that cannot run to its end (the lab stopped answering) is reported and
  // the next one still runs: one bad moment must not cost the rest of a long --all.
  const reports: (ChaosReport | { scenario: string; error: string })[] = [];
  for (const sc of scenarios) {
    try {
      const report = await runScenario(access, {
        scenario: sc,
        seed: seed ?? sc.seed,
        progress: o.json ? undefined : (line) => print(line),
      });
      reports.push(report);
      if (!o.json) print(renderSummary(report, renderTable));
    } catch (err) {
      reports.push({ scenario: sc.name, error: errorMessage(err) });
      if (!o.json) print(`scenario ${sc.name} did not run to its end: ${errorMessage(err)}`);
    }
  }
  if (o.json) printJson(reports.map((r) => ("error" in r ? r : benchmarkRow(r))));
  const failed = reports.flatMap((r) =>
    "error" in r
      ? [`${r.scenario} (did not run to its end)`]
      : r.held
        ? []
        : [
            `${r.scenario} (${r.invariants
              .filter((i) => !i.held)
              .map((i) => i.name)
              .join(", ")})`,
          ],
  );
  if (failed.length > 0) {
    throw new SwarmnetError(ErrorCode.Conflict, `invariants broken: ${failed.join("; ")}`);
  }
}

export interface ChaosFlags {
  name: string;
  all?: boolean;
  seed?: string;
  json?: boolean;
  plan?: boolean;
  list?: boolean;
  nodes: string;
  managers: string;
}

/** Built-in names and files, validated (one clear line for the first bad one). */
function chaosScenarios(names: readonly string[], all: boolean): Scenario[] {
  if (all && names.length > 0) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "give scenarios or --all, not both");
  }
  if (!all && names.length === 0) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `name a scenario (built-in: ${BUILTIN_NAMES.join(", ")}), a scenario file, or --all`,
    );
  }
  return (all ? BUILTIN_NAMES : names).map((n) => {
    const builtin = builtinScenario(n);
    if (builtin !== undefined) return builtin;
    if (!existsSync(n)) {
      throw new SwarmnetError(
        ErrorCode.NotFound,
        `no built-in scenario or file ${JSON.stringify(n)} (built-in: ${BUILTIN_NAMES.join(", ")})`,
      );
    }
    return parseScenario(readFileSync(n, "utf8"), n);
  });
}

/** One scenario's line of `lab chaos --json` (the benchmark's fields). */
function benchmarkRow(r: ChaosReport) {
  return {
    scenario: r.scenario,
    seed: r.seed,
    requests: r.requests.total,
    failed: r.requests.failed,
    failedHealthy: r.requests.failedHealthy,
    recoveryP50Ms: r.recovery.p50Ms,
    recoveryMaxMs: r.recovery.maxMs,
    settleMs: r.settleMs,
    invariantsHeld: r.held,
    broken: r.invariants.filter((i) => !i.held).map((i) => ({ name: i.name, evidence: i.evidence })),
    faults: r.faults.map((f) => ({
      step: f.step,
      nodes: f.nodes,
      requests: f.requests,
      failed: f.failed,
      failedHealthy: f.failedHealthy,
      recoveryMs: f.recoveryMs,
      detectedMs: f.detectedMs,
      detail: f.detail,
    })),
    report: r.files.report,
    svg: r.files.svg,
  };
}

/** `swarmnet lab up|down|status|exec|restart|chaos`: the network-namespace lab (deploy/lab). */
import type { Command } from "commander";
import { parseDurationMs } from "../common/config.js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import { Lab } from "../deploy/lab/lab.js";
import { MAX_LAB_NODES, parseCount } from "../deploy/lab/layout.js";
import { parseVmNodes, VM_DEFAULTS } from "../deploy/lab/vm-nodes.js";
import type { ChaosFlags } from "./lab-chaos.js";
import { parseFormat, print, printJson, renderTable } from "./output.js";

const DEFAULT_LAB = "swarmnet";
/** The agent refuses a resync period below this (agent/config.ts). */
const MIN_AGENT_RESYNC_MS = 100;

/** `--agent-resync-interval`: checked here, so a bad value is refused before anything is built. */
function checkAgentResyncInterval(raw: string): void {
  let ms = NaN;
  try {
    ms = parseDurationMs(raw);
  } catch {
    // reported below, in the flag's words
  }
  if (!(ms >= MIN_AGENT_RESYNC_MS)) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--agent-resync-interval must be a duration of at least ${MIN_AGENT_RESYNC_MS}ms like 10s or 1h, got ${JSON.stringify(raw)}`,
    );
  }
}

export function register(program: Command): void {
  const lab = program
    .command("lab")
    .description("a multi-node swarmnet lab in network namespaces on this machine");

  lab
    .command("up")
    .description("build the lab: underlay bridge, nodes n1…nN, a client; start etcd, managers and agents")
    .option("--name <lab>", "lab name (lowercase letters and digits)", DEFAULT_LAB)
    .option("--nodes <n>", "number of nodes", "3")
    .option("--managers <m>", "number of manager nodes (the first M nodes)", "1")
    .option("--no-init", "do not form the swarm (no init/join): the bare lab")
    .option("--no-start", "start no etcd, manager or agent (implies --no-init): the nodes only")
    .option(
      "--agent-resync-interval <duration>",
      "every agent's resync period, e.g. 1h (default: the agent's, 30s)",
    )
    .option("--vm [nodes]", "make nodes qemu VMs booting Debian's kernel: all, or a list like n2,n3")
    .option(
      "--kernel <version>",
      "kernel version for the VMs (default: the newest fetched by deploy/install.sh --test)",
    )
    .option("--vm-memory <mb>", "memory of each VM in MiB", String(VM_DEFAULTS.memoryMb))
    .action(
      async (o: {
        name: string;
        nodes: string;
        managers: string;
        init: boolean;
        start: boolean;
        agentResyncInterval?: string;
        vm?: string | true;
        kernel?: string;
        vmMemory: string;
      }) => {
        const nodes = parseCount("nodes", o.nodes, 1, MAX_LAB_NODES);
        const managers = parseCount("managers", o.managers, 1, MAX_LAB_NODES);
        if (o.agentResyncInterval !== undefined) checkAgentResyncInterval(o.agentResyncInterval);
        const vmNodes = o.vm === undefined ? [] : parseVmNodes(o.vm, nodes);
        if (vmNodes.length === 0 && o.kernel !== undefined) {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            "--kernel needs --vm (it names the VMs' kernel)",
          );
        }
        const memoryMb = parseCount("vm-memory", o.vmMemory, 128, 16_384);
        const started = Date.now();
        const layout = await new Lab(new Executor()).up({
          name: o.name,
          nodes,
          managers,
          init: o.init,
          start: o.start,
          ...(o.agentResyncInterval === undefined ? {} : { agentResyncInterval: o.agentResyncInterval }),
          vmNodes,
          ...(o.kernel === undefined ? {} : { kernel: o.kernel }),
          vm: { memoryMb },
          progress: (line) => print(`lab ${o.name}: ${line}`),
        });
        const vms = vmNodes.length > 0 ? ` (${vmNodes.length} VM)` : "";
        print(
          `lab ${layout.name} is up: ${layout.nodes.length} nodes${vms}, ${managers} manager(s) in ${Date.now() - started} ms`,
        );
      },
    );

  lab
    .command("down")
    .description("stop every lab process and remove every namespace, veth and file of the lab")
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .action(async (o: { name: string }) => {
      const r = await new Lab(new Executor()).down(o.name);
      print(
        `lab ${o.name} is down: stopped ${r.processes} process(es), removed ${r.namespaces} namespace(s)`,
      );
    });

  lab
    .command("status")
    .description("each node's role, underlay address and whether its processes are up")
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .option("--format <format>", "table or json", "table")
    .action(async (o: { name: string; format: string }) => {
      const format = parseFormat(o.format);
      const rows = await new Lab(new Executor()).status(o.name);
      if (format === "json") return printJson(rows);
      const show = (v: boolean | null) => (v === null ? "-" : v ? "up" : "down");
      print(
        renderTable(
          ["NODE", "ROLE", "ADDRESS", "AGENT", "MANAGER", "ETCD", "KIND"],
          rows.map((r) => [r.name, r.role, r.address, show(r.agent), show(r.manager), show(r.etcd), r.kind]),
        ),
      );
    });

  lab
    .command("restart")
    .description("stop a lab process and start it again (chaos testing, agent restarts)")
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .option("--process <kind>", "agent, manager or etcd", "agent")
    .option("--kill", "stop it with SIGKILL instead of SIGTERM")
    .option("--stop-only", "stop it and do not start it again")
    .argument("<node>", "n1…nN")
    .action(
      async (node: string, o: { name: string; process: string; kill?: boolean; stopOnly?: boolean }) => {
        if (o.process !== "agent" && o.process !== "manager" && o.process !== "etcd") {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            `--process must be agent, manager or etcd, got ${JSON.stringify(o.process)}`,
          );
        }
        const pid = await new Lab(new Executor()).restart(o.name, node, o.process, {
          kill: o.kill ?? false,
          start: !(o.stopOnly ?? false),
        });
        print(pid > 0 ? `${o.process} on ${node} restarted (pid ${pid})` : `${o.process} on ${node} stopped`);
      },
    );

  lab
    .command("metrics")
    .description("print a lab node's Prometheus metrics (its agent's, or its manager's)")
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .option("--process <kind>", "agent or manager", "agent")
    .argument("<node>", "n1…nN")
    .action(async (node: string, o: { name: string; process: string }) => {
      if (o.process !== "agent" && o.process !== "manager") {
        throw new SwarmnetError(
          ErrorCode.InvalidArgument,
          `--process must be agent or manager, got ${JSON.stringify(o.process)}`,
        );
      }
      process.stdout.write(await new Lab(new Executor()).metrics(o.name, node, o.process));
    });

  lab
    .command("exec")
    .description("run a command inside a lab node (or the client), with swarmnet on PATH")
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .argument("<node>", "n1…nN or client")
    .argument("<command...>", "the command, after --")
    .passThroughOptions()
    .action(async (node: string, command: string[], o: { name: string }) => {
      const target = new Lab(new Executor()).execTarget(o.name, node);
      // With passThroughOptions commander keeps a leading "--" among the operands.
      const argv = command[0] === "--" ? command.slice(1) : command;
      process.exitCode = await target.host.interactive(argv, target.env);
    });

  lab
    .command("chaos")
    .description(
      "run chaos scenarios on a running lab: faults while traffic runs, invariants, a report and a picture",
    )
    .option("--name <lab>", "lab name", DEFAULT_LAB)
    .option("--all", "every built-in scenario, in order")
    .option("--seed <n>", "seed for every random choice (default: the scenario's, 1)")
    .option("--json", "print the results as JSON (the benchmark's output)")
    .option("--plan", "print the fault sequence each scenario would run, and run nothing")
    .option("--list", "list the built-in scenarios")
    .option("--nodes <n>", "with --plan and no lab: plan for this many nodes", "5")
    .option("--managers <m>", "with --plan and no lab: plan for this many managers", "3")
    .argument("[scenario...]", "built-in names or scenario files (JSON)")
    // In its own module, loaded only here: the chaos runner pulls in the gRPC clients,
    // which every other `lab` command (above all `lab exec`) would otherwise load at start.
    .action(async (names: string[], o: ChaosFlags) => (await import("./lab-chaos.js")).labChaos(names, o));
}

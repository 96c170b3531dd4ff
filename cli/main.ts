#!/usr/bin/env node
/**
 * The `swarmnet` command. Each family of subcommands registers itself from its own file;
 * this file only wires them and owns the one place where errors become output: one line
 * on stderr naming the problem, exit code 1.
 *
 * Only the family the command belongs to is loaded (each pulls in gRPC, the agent's or
 * the managers' code…): a CLI start is then about half the CPU of loading them all, and
 * tests, the lab and every `run` start many. Help, `--version` and unknown commands load
 * every family, so the full command list and suggestions stay right.
 */
import { Command, CommanderError } from "commander";
import { errorMessage } from "../common/errors.js";

interface Family {
  register(program: Command): void;
}

const FAMILIES: Record<string, () => Promise<Family>> = {
  lab: () => import("./lab.js"),
  swarm: () => import("./swarm.js"),
  node: () => import("./node.js"),
  network: () => import("./network.js"),
  service: () => import("./service.js"),
  container: () => import("./container.js"),
  agent: () => import("./agent.js"),
  manager: () => import("./manager.js"),
  bench: () => import("./bench.js"),
  whoami: () => import("./whoami.js"),
  events: () => import("./events.js"),
  ui: () => import("./ui.js"),
};

/** The families a top-level command needs (`network connect` lives with the containers). */
const COMMAND_FAMILIES: Record<string, string[]> = {
  network: ["network", "container"],
  run: ["container"],
  port: ["container"],
  exec: ["container"],
  ps: ["container"],
  stop: ["container"],
  rm: ["container"],
  inspect: ["container"],
};

function familiesFor(command: string | undefined): string[] {
  if (command === undefined) return Object.keys(FAMILIES);
  return COMMAND_FAMILIES[command] ?? (command in FAMILIES ? [command] : Object.keys(FAMILIES));
}

async function main(argv: string[]): Promise<void> {
  const program = new Command("swarmnet")
    .description("swarmnet: the networking layer of a container swarm")
    .version("0.1.0")
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .exitOverride();
  for (const name of familiesFor(argv[2]))
    (await (FAMILIES[name] as () => Promise<Family>)()).register(program);
  program.commands.forEach(function inherit(c: Command): void {
    c.exitOverride();
    c.commands.forEach(inherit);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or the help text).
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`swarmnet: ${errorMessage(err).split("\n")[0]}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);

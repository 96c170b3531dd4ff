#!/usr/bin/env node
/**
 * The `swarmnet` command. Each family of subcommands registers itself from its own file;
 * this file only wires them and owns the one place where errors become output: one line
 * on stderr naming the problem, exit code 1.
 */
import { Command, CommanderError } from "commander";
import { errorMessage } from "../common/errors.js";
import * as agent from "./agent.js";
import * as bench from "./bench.js";
import * as container from "./container.js";
import * as lab from "./lab.js";
import * as manager from "./manager.js";
import * as network from "./network.js";
import * as node from "./node.js";
import * as service from "./service.js";
import * as swarm from "./swarm.js";
import * as whoami from "./whoami.js";

const FAMILIES = [lab, swarm, node, network, service, container, agent, manager, bench, whoami];

async function main(argv: string[]): Promise<void> {
  const program = new Command("swarmnet")
    .description("swarmnet: the networking layer of a container swarm")
    .version("0.1.0")
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .exitOverride();
  for (const family of FAMILIES) family.register(program);
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

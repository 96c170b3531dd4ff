/**
 * What the fuzzer feeds, and what counts as a crash: every decoder that reads bytes or
 * text from outside the process, each with a fast-check arbitrary mixing random input and
 * mutations of valid input, and a property that holds when the decoder either returns or
 * refuses in its documented way. Any other exception (a TypeError from a missing check,
 * a RangeError where "never throws" was promised) is a crash; a decoder that does not
 * return within the run's time limit is a hang.
 *
 *   gossip        openPacket (plaintext and keyed), decodeMessage, NetworkDB messages and
 *                 state — documented to never throw
 *   grpc          the request and response deserializers grpc-js runs for every method of
 *                 every service (control.proto, agent.proto) — may throw an Error, which
 *                 grpc-js turns into a status; nothing else
 *   record        the encrypted datapath's record parser and opener, and the relay frame
 *                 parser — never throw
 *   join-token    parseJoinToken — a SwarmnetError or a token
 *   publish-spec  parsePublishSpec — a SwarmnetError or a spec
 *   cli           the whole `swarmnet` command tree (actions replaced by no-ops): parsing
 *                 any argv ends in a result or a CommanderError, nothing else
 *
 * Used by the suite (test/fuzz/, a seeded bounded run) and by `node dist/bench/fuzz.js`
 * (a longer run that prints inputs per second and failures).
 */
import { createSecretKey } from "node:crypto";
import * as fc from "fast-check";
import { Command, CommanderError } from "commander";
import * as grpc from "@grpc/grpc-js";
import {
  encodeMessage,
  openPacket,
  sealPacket,
  decodeMessage,
  type GossipMessage,
} from "../agent/gossip/codec.js";
import { Keyring } from "../agent/gossip/keyring.js";
import { decodeNetworkDbMessage, decodeNetworkDbState } from "../agent/gossip/networkdb-codec.js";
import { openRecord, parseRecord } from "../agent/encryption/record-codec.js";
import { parseRelayFrame } from "../agent/encryption/relay-frame.js";
import { SwarmnetError } from "../common/errors.js";
import { parseJoinToken, formatJoinToken } from "../common/pki/join-token.js";
import { grpcPackageDefinition } from "../common/proto.js";
import { parsePublishSpec } from "../common/publish-spec.js";
import * as agentCli from "../cli/agent.js";
import * as benchCli from "../cli/bench.js";
import * as containerCli from "../cli/container.js";
import * as labCli from "../cli/lab.js";
import * as managerCli from "../cli/manager.js";
import * as networkCli from "../cli/network.js";
import * as nodeCli from "../cli/node.js";
import * as serviceCli from "../cli/service.js";
import * as swarmCli from "../cli/swarm.js";
import * as whoamiCli from "../cli/whoami.js";

export interface FuzzTarget {
  name: string;
  /** Runs one input; throws only on a crash (an exception the decoder may not raise). */
  property: fc.IProperty<[unknown]> | fc.IAsyncProperty<[unknown]>;
}

/** Byte strings with `n` random positions overwritten, inserted or deleted. */
function mutated(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(
        fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "delete")),
        {
          maxLength: 6,
        },
      ),
    )
    .map(([seed, edits]) => {
      const b = [...seed];
      for (const [at, value, op] of edits) {
        const i = b.length === 0 ? 0 : at % b.length;
        if (op === "set" && b.length > 0) b[i] = value;
        else if (op === "insert") b.splice(i, 0, value);
        else if (op === "delete") b.splice(i, 1);
      }
      return Uint8Array.from(b);
    });
}

/** Well-formed protobuf fields with random numbers, wire types and payloads (nesting too). */
function protobufish(): fc.Arbitrary<Uint8Array> {
  const varint = (n: number) => {
    const out: number[] = [];
    let v = n >>> 0;
    while (v >= 0x80) {
      out.push((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.push(v);
    return out;
  };
  const field = fc.tuple(
    fc.integer({ min: 1, max: 20 }),
    fc.constantFrom(0, 1, 2, 5),
    fc.uint8Array({ maxLength: 24 }),
    fc.nat(),
  );
  return fc.array(field, { maxLength: 12 }).map((fields) => {
    const out: number[] = [];
    for (const [no, wt, bytes, n] of fields) {
      out.push(...varint((no << 3) | wt));
      if (wt === 0) out.push(...varint(n));
      else if (wt === 1) out.push(...bytes.slice(0, 8), ...new Array(Math.max(0, 8 - bytes.length)).fill(0));
      else if (wt === 5) out.push(...bytes.slice(0, 4), ...new Array(Math.max(0, 4 - bytes.length)).fill(0));
      else out.push(...varint(bytes.length), ...bytes);
    }
    return Uint8Array.from(out);
  });
}

function bytesInput(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(fc.uint8Array({ maxLength: 1500 }), mutated(seeds), protobufish());
}

const GOSSIP_SAMPLES: GossipMessage[] = [
  { kind: "ping", ping: { seq: 7, node: "n2", sourceNode: "n1", sourceAddr: "10.0.0.1:7946" } },
  { kind: "ack", ack: { seq: 9, payload: new Uint8Array([1, 2, 3]) } },
  { kind: "alive", alive: { incarnation: 3, node: "n2", addr: "10.0.0.2:7946", meta: new Uint8Array([1]) } },
  { kind: "suspect", suspect: { incarnation: 3, node: "n2", from: "n1" } },
  { kind: "dead", dead: { incarnation: 4, node: "n2", from: "n2" } },
  { kind: "user", user: new Uint8Array([9, 9]) },
  {
    kind: "pushPull",
    pushPull: {
      join: true,
      sourceNode: "n1",
      userState: new Uint8Array([5]),
      nodes: [{ name: "n1", addr: "10.0.0.1:7946", meta: new Uint8Array(0), incarnation: 1, state: "alive" }],
    },
  },
];

function gossipTarget(): FuzzTarget {
  const key = new Uint8Array(32).fill(3);
  const label = Buffer.from("lab");
  const keyring = new Keyring([key]);
  const plain = { label: "lab", labelBytes: label, keyring: undefined, maxBytes: 65_507 };
  const keyed = { ...plain, keyring };
  const encoded = GOSSIP_SAMPLES.map(encodeMessage);
  const seeds = [
    ...encoded,
    sealPacket({ label, keyring: undefined }, encoded),
    sealPacket({ label, keyring }, encoded.slice(0, 3)),
  ];
  return {
    name: "gossip",
    property: fc.property(bytesInput(seeds), (b) => {
      openPacket(plain, b);
      openPacket(keyed, b);
      decodeMessage(b);
      decodeNetworkDbMessage(b);
      decodeNetworkDbState(b);
    }) as fc.IProperty<[unknown]>,
  };
}

function grpcTarget(): FuzzTarget {
  const def = grpcPackageDefinition();
  const decoders: ((b: Buffer) => unknown)[] = [];
  const seeds: Uint8Array[] = [];
  for (const service of Object.values(def)) {
    if (!("format" in service) && typeof service === "object") {
      for (const method of Object.values(service as grpc.ServiceDefinition)) {
        decoders.push(method.requestDeserialize, method.responseDeserialize);
        seeds.push(method.requestSerialize({}), method.responseSerialize({}));
      }
    }
  }
  if (decoders.length < 40) throw new Error(`only ${decoders.length} gRPC decoders found`);
  return {
    name: "grpc",
    property: fc.property(bytesInput(seeds), (b) => {
      const buf = Buffer.from(b);
      for (const decode of decoders) {
        try {
          decode(buf);
        } catch (err) {
          if (!(err instanceof Error)) throw new Error(`a decoder threw a non-Error: ${String(err)}`);
        }
      }
    }) as fc.IProperty<[unknown]>,
  };
}

function recordTarget(): FuzzTarget {
  const key = createSecretKey(Buffer.alloc(32, 5));
  const valid = Buffer.concat([
    Buffer.from([1, 1, 0, 0, 0, 0, 0, 7]),
    Buffer.alloc(12, 1),
    Buffer.alloc(40, 2),
  ]);
  return {
    name: "record",
    property: fc.property(bytesInput([valid]), (b) => {
      const buf = Buffer.from(b);
      const r = parseRecord(buf);
      if (r !== undefined) openRecord(key, r);
      parseRelayFrame(buf, buf.length, 4789);
    }) as fc.IProperty<[unknown]>,
  };
}

function refusesWithSwarmnetError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof SwarmnetError)) throw err;
  }
}

function textInput(seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 120 }),
    fc.string({ unit: "binary", maxLength: 80 }),
    mutated(seeds.map((s) => Buffer.from(s))).map((b) => Buffer.from(b).toString("latin1")),
  );
}

function joinTokenTarget(): FuzzTarget {
  const seeds = [formatJoinToken("a".repeat(50), "b".repeat(25)), "SWMTKN-1-", "SWMTKN-1-x-y"];
  return {
    name: "join-token",
    property: fc.property(textInput(seeds), (s) =>
      refusesWithSwarmnetError(() => parseJoinToken(s)),
    ) as fc.IProperty<[unknown]>,
  };
}

function publishSpecTarget(): FuzzTarget {
  const seeds = [
    "8080:80",
    "80/udp",
    "published=7000,target=80,protocol=tcp,mode=host",
    "30000-30010:80-90/tcp",
  ];
  return {
    name: "publish-spec",
    property: fc.property(textInput(seeds), (s) =>
      refusesWithSwarmnetError(() => parsePublishSpec(s)),
    ) as fc.IProperty<[unknown]>,
  };
}

/** The CLI's command tree with every action a no-op and no output. */
function cliProgram(): Command {
  const program = new Command("swarmnet").enablePositionalOptions().exitOverride();
  for (const family of [
    labCli,
    swarmCli,
    nodeCli,
    networkCli,
    serviceCli,
    containerCli,
    agentCli,
    managerCli,
    benchCli,
    whoamiCli,
  ]) {
    family.register(program);
  }
  const quiet = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if (c.commands.length === 0) c.action(() => {});
    c.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

function cliTarget(): FuzzTarget {
  const program = cliProgram();
  const words = [
    "swarm",
    "init",
    "join",
    "leave",
    "node",
    "ls",
    "rm",
    "promote",
    "demote",
    "network",
    "create",
    "service",
    "update",
    "publish",
    "lab",
    "up",
    "exec",
    "ca",
    "unlock",
    "unlock-key",
    "--token",
    "--rotate",
    "--autolock",
    "--cert-expiry",
    "2m",
    "--format",
    "json",
    "-p",
    "8080:80",
    "--",
    "-d",
    "overlay",
    "--help",
    "-q",
    "--force",
  ];
  const argv = fc.array(fc.oneof(fc.constantFrom(...words), fc.string({ maxLength: 12 })), { maxLength: 8 });
  return {
    name: "cli",
    property: fc.asyncProperty(argv, async (args) => {
      try {
        await program.parseAsync(args as string[], { from: "user" });
      } catch (err) {
        if (!(err instanceof CommanderError)) throw err;
      }
    }) as fc.IAsyncProperty<[unknown]>,
  };
}

export function fuzzTargets(): FuzzTarget[] {
  return [gossipTarget(), grpcTarget(), recordTarget(), joinTokenTarget(), publishSpecTarget(), cliTarget()];
}

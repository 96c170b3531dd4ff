/**
 * GuestRunner (deploy/vm/guest-runner.ts) against a fake guest: a unix socket speaking the
 * session frames the relay passes through (frames.ts). Checks what the executor relies on:
 * exit code and output, stdin from `input`, a missing program typed as ToolMissing, and a
 * command past its timeout answered 124 with its session closed (the daemon kills it).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { Executor } from "../../../common/executor.js";
import { SessionFrame, sessionFrame, sessionReader, type GuestRequest } from "../../../deploy/vm/frames.js";
import { GuestRunner } from "../../../deploy/vm/guest-runner.js";

type Exec = Extract<GuestRequest, { op: "exec" }>;

/** Answers each exec session with `answer`, given the request and the stdin it got. */
function fakeGuest(
  path: string,
  answer: (req: Exec, stdin: string, s: Socket) => void,
  closed: () => void = () => {},
): Server {
  return createServer((s) => {
    const reader = sessionReader();
    let req: Exec | undefined;
    let stdin = "";
    s.on("close", closed);
    s.on("data", (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.kind === SessionFrame.Request) {
          req = JSON.parse(f.payload.toString()) as Exec;
          if (!req.stdin) answer(req, "", s);
        } else if (f.kind === SessionFrame.Stdin) stdin += f.payload.toString();
        else if (f.kind === SessionFrame.StdinEof && req !== undefined) answer(req, stdin, s);
      }
    });
  }).listen(path);
}

function exit(s: Socket, code: number, stdout = "", stderr = ""): void {
  if (stdout !== "") s.write(sessionFrame(SessionFrame.Stdout, stdout));
  if (stderr !== "") s.write(sessionFrame(SessionFrame.Stderr, stderr));
  s.end(sessionFrame(SessionFrame.Exit, JSON.stringify({ code, signal: null })));
}

describe("GuestRunner: the executor's commands in a VM's guest", () => {
  let dir = "";
  let server: Server | undefined;
  const socket = () => join(dir, "relay.sock");

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "snt-guest-"));
  });
  afterEach(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs argv in the guest: exit code, stdout and stderr apart, stdin from input", async () => {
    server = fakeGuest(socket(), (req, stdin, s) =>
      exit(s, req.argv[0] === "nft" ? 0 : 3, `${req.argv.join(" ")}|${stdin}`, "warn"),
    );
    const runner = new GuestRunner(socket());
    const r = await runner.run("nft", ["-f", "-"], { input: "table inet t\n" });
    assert.deepEqual(r, { exitCode: 0, stdout: "nft -f -|table inet t\n", stderr: "warn" });
    const ex = new Executor(runner);
    await ex.nftApply("table inet t\n");
    assert.equal((await runner.run("false", [])).exitCode, 3);
  });

  it("types a program missing in the guest as ToolMissing, like a missing one on the host", async () => {
    server = fakeGuest(socket(), (req, _stdin, s) => exit(s, 127, "", `${req.argv[0]}: spawn tc ENOENT\n`));
    await assert.rejects(new Executor(new GuestRunner(socket())).tc(["qdisc", "show"]), (e: unknown) =>
      isSwarmnetError(e, ErrorCode.ToolMissing),
    );
  });

  it("answers 124 for a command past its timeout and closes its session", async () => {
    let closed = false;
    server = fakeGuest(
      socket(),
      () => undefined,
      () => (closed = true),
    );
    const r = await new GuestRunner(socket()).run("sleep", ["100"], { timeoutMs: 200 });
    assert.deepEqual(r, { exitCode: 124, stdout: "", stderr: "timed out" });
    for (let i = 0; i < 50 && !closed; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal(closed, true, "the session was closed, so the daemon kills the command");
  });
});

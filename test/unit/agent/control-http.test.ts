/**
 * The agent's control API (agent/control: JSON over HTTP/1.1 on a unix socket) between the
 * real client and the real server, with a stand-in agent behind the server: what a call
 * returns (the objects a gRPC client of the service would get), how errors keep their
 * code and one-line message, what bad requests get, and an agent that cannot be reached.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { Agent } from "../../../agent/agent.js";
import { AgentClient } from "../../../agent/control/client.js";
import { ControlServer } from "../../../agent/control/server.js";
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";

/** What the handlers under test touch of an agent. */
function standInAgent(o: { slowRun?: Promise<never> } = {}): Agent {
  return {
    config: {
      nodeName: "n9",
      advertiseAddr: "100.64.1.9",
      managers: ["100.64.1.1:2377"],
      netnsPrefix: "sn-",
    },
    description: () => undefined,
    drivers: { available: () => ["bridge", "host"] },
    members: () => [],
    containers: {
      find: (ref: string) => {
        throw new SwarmnetError(ErrorCode.NotFound, `No such container: ${ref}`);
      },
      run: () => o.slowRun ?? Promise.reject(new Error("boom")),
    },
  } as unknown as Agent;
}

/** One raw HTTP exchange on the socket: status and body. */
function raw(socketPath: string, method: string, path: string, body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("agent control API (JSON over HTTP on a unix socket)", () => {
  let dir: string;
  let socket: string;
  let server: ControlServer;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "snt-ctl-"));
    socket = join(dir, "agent.sock");
    server = new ControlServer(standInAgent(), socket);
    await server.start();
  });

  afterEach(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a call with the response message, defaults filled as a gRPC client gets them; the socket is 0600", async () => {
    const info = await new AgentClient(socket).info();
    assert.equal(info.nodeName, "n9");
    assert.deepEqual(info.drivers, ["bridge", "host"]);
    assert.equal(info.capabilities, null);
    assert.equal(info.joined, false);
    assert.equal(statSync(socket).mode & 0o777, 0o600);
  });

  it("keeps the agent's error code and message; anything else is Internal with its one line", async () => {
    const client = new AgentClient(socket);
    await assert.rejects(client.inspect("nope"), {
      code: ErrorCode.NotFound,
      message: "No such container: nope",
    });
    await assert.rejects(client.run({ command: ["true"] }), { code: ErrorCode.Internal, message: "boom" });
  });

  it("refuses bad requests with one line and an HTTP status to match: malformed, wrong field types, unknown calls", async () => {
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ["POST", "/swarmnet.v1.AgentControl/List", '{"all":', 400, /^malformed List request: /],
      [
        "POST",
        "/swarmnet.v1.AgentControl/Run",
        '{"networks":"x"}',
        400,
        /^malformed Run request: .*array expected/,
      ],
      ["POST", "/swarmnet.v1.AgentControl/List", "[]", 400, /^malformed List request: .*got array/],
      ["GET", "/swarmnet.v1.AgentControl/List", undefined, 404, /^no such call: GET /],
      ["POST", "/swarmnet.v1.AgentControl/Nope", "{}", 404, /^no such call: POST /],
      ["POST", "/swarmnet.v1.AgentControl/constructor", "{}", 404, /^no such call: /],
      ["POST", "/other", "{}", 404, /^no such call: /],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await raw(socket, method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${body ?? ""}: ${r.body}`);
      const e = JSON.parse(r.body) as { code: string; message: string };
      assert.match(e.message, message);
      assert.equal(e.message.split("\n").length, 1);
      assert.equal(e.code, status === 404 ? ErrorCode.NotFound : ErrorCode.MalformedMessage);
    }
    const big = await raw(socket, "POST", "/swarmnet.v1.AgentControl/List", " ".repeat(5 * 1024 * 1024));
    assert.equal(big.status, 400);
    assert.match(big.body, /request larger than/);
    assert.equal((await new AgentClient(socket).info()).nodeName, "n9", "still serving");
  });

  it("answers any JSON or text at all with one JSON answer, and keeps serving", async () => {
    const methods = ["Info", "List", "Inspect", "Run", "Stop", "Connect", "CreateNetwork"];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.oneof(fc.json(), fc.string()),
        async (method, body) => {
          const r = await raw(socket, "POST", `/swarmnet.v1.AgentControl/${method}`, body);
          assert.ok([200, 400, 404, 500].includes(r.status), `${r.status} ${r.body}`);
          const answer = JSON.parse(r.body) as { message?: string };
          if (r.status !== 200) assert.equal(answer.message?.split("\n").length, 1, r.body);
        },
      ),
      { numRuns: 300 },
    );
    assert.equal((await new AgentClient(socket).info()).nodeName, "n9");
  });

  it("an agent that is not there, or does not answer in time, is a retryable Unavailable saying why", async () => {
    await assert.rejects(new AgentClient(join(dir, "absent.sock")).info(), (err: SwarmnetError) => {
      assert.equal(err.code, ErrorCode.Unavailable);
      assert.equal(err.retryable, true);
      assert.match(
        err.message,
        /^cannot reach the agent at .*absent\.sock: no socket there \(is it running\?\)$/,
      );
      return true;
    });
    await server.stop();
    server = new ControlServer(standInAgent({ slowRun: new Promise<never>(() => undefined) }), socket);
    await server.start();
    await assert.rejects(new AgentClient(socket, 200).run({ command: ["true"] }), {
      code: ErrorCode.Unavailable,
      message: `cannot reach the agent at ${socket}: no answer in time`,
    });
  });
});

/**
 * The CLI's own rules around leaving and joining (issue 17): `swarm leave` never leaves a
 * node stuck between "cannot leave" and "cannot join", and a manager address with a bad
 * port is refused in one line before gRPC sees it.
 */
import assert from "node:assert/strict";
import { ErrorCode, SwarmnetError, isSwarmnetError } from "../../../common/errors.js";
import { withDefaultPort } from "../../../cli/manager-client.js";
import { leaveSwarm } from "../../../cli/swarm.js";

const removedByAnother = new SwarmnetError(
  ErrorCode.Unauthenticated,
  "this node's certificate is no longer valid: the node left or was removed from the cluster; join it again",
);
const unreachable = new SwarmnetError(ErrorCode.Unavailable, "cannot reach manager 100.64.1.1:2377");
const managerNoForce = new SwarmnetError(ErrorCode.Conflict, "node n2 is a manager: … use --force");

async function leave(force: boolean, answer: SwarmnetError | undefined, joined = true) {
  let forgotten = false;
  const run = leaveSwarm({
    force,
    joined,
    tell: async () => {
      if (answer !== undefined) throw answer;
    },
    forget: () => {
      forgotten = true;
    },
  });
  return { run, forgotten: () => forgotten };
}

describe("swarm leave / join (CLI rules)", () => {
  it("leave --force after another manager removed the node: local state forgotten, no error", async () => {
    const l = await leave(true, removedByAnother);
    assert.match((await l.run).untold ?? "", /no longer valid/);
    assert.equal(l.forgotten(), true);
  });

  it("leave without --force of a removed node forgets too (it is out already)", async () => {
    const l = await leave(false, removedByAnother);
    await l.run;
    assert.equal(l.forgotten(), true);
  });

  it("leave --force with no manager reachable leaves; without --force it fails and keeps the state", async () => {
    const forced = await leave(true, unreachable);
    assert.match((await forced.run).untold ?? "", /cannot reach/);
    assert.equal(forced.forgotten(), true);
    const plain = await leave(false, unreachable);
    await assert.rejects(plain.run, /cannot reach/);
    assert.equal(plain.forgotten(), false);
  });

  it("a manager's leave without --force is refused by the managers and changes nothing", async () => {
    const l = await leave(false, managerNoForce);
    await assert.rejects(l.run, /use --force/);
    assert.equal(l.forgotten(), false);
  });

  it("a node that never joined: not part of a swarm", async () => {
    const l = await leave(true, undefined, false);
    await assert.rejects(l.run, (e: unknown) => isSwarmnetError(e, ErrorCode.NotFound));
    assert.equal(l.forgotten(), false);
  });

  it("manager addresses: default port 2377, a bad port named in one line", () => {
    assert.equal(withDefaultPort("100.64.1.1"), "100.64.1.1:2377");
    assert.equal(withDefaultPort("n1.example:4242"), "n1.example:4242");
    for (const [bad, port] of [
      ["100.64.1.1:99999", "99999"],
      ["100.64.1.1:0", "0"],
      ["host:http", "http"],
      ["host:", ""],
    ] as const) {
      assert.throws(
        () => withDefaultPort(bad),
        (e: unknown) =>
          isSwarmnetError(e, ErrorCode.InvalidArgument) &&
          e.message.includes(`port ${JSON.stringify(port)} is not a number from 1 to 65535`) &&
          !/ERR_SOCKET|Resolution note/.test(e.message),
      );
    }
    assert.throws(() => withDefaultPort("a b:1"), /expected host\[:port\]/);
  });
});

/**
 * Gossip over real sockets: five agent processes in lab namespaces form one membership
 * over UDP/TCP (encrypted with the managers' gossip keys); a `kill -9` of one is seen as
 * dead by the other four, and `swarmnet agent members` shows it.
 */
import assert from "node:assert/strict";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

interface MemberRow {
  name: string;
  state: string;
}

describe("gossip between five agent processes (netns lab)", function () {
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const members = async (node: string): Promise<Map<string, string>> => {
    const r = await lab.sx(node, "agent", "members", "--format", "json");
    if (r.exitCode !== 0) return new Map();
    return new Map((JSON.parse(r.stdout) as MemberRow[]).map((m) => [m.name, m.state]));
  };

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "5"]);
    assert.equal(up.exitCode, 0, up.stderr);
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
  });

  it("forms one cluster: every agent sees all five alive", async () => {
    for (const node of ["n1", "n2", "n3", "n4", "n5"]) {
      const ok = await eventually(async () => {
        const m = await members(node);
        return m.size === 5 && [...m.values()].every((s) => s === "alive");
      });
      assert.ok(ok, `${node} sees five alive members: ${JSON.stringify([...(await members(node))])}`);
    }
  });

  it("a kill -9 of one agent is seen as dead by the other four", async () => {
    const killed = await swarmnet(["lab", "restart", "--name", name, "--kill", "--stop-only", "n5"]);
    assert.equal(killed.exitCode, 0, killed.stderr);
    for (const node of ["n1", "n2", "n3", "n4"]) {
      assert.ok(
        await eventually(async () => (await members(node)).get("n5") === "dead", 120),
        `${node} sees n5 dead`,
      );
      const m = await members(node);
      assert.deepEqual(
        ["n1", "n2", "n3", "n4"].map((n) => m.get(n)),
        ["alive", "alive", "alive", "alive"],
        "no one else marked dead",
      );
    }
  });
});

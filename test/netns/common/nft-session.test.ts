/**
 * The long-lived nft session on the real kernel (issue 16's acceptance): a transaction
 * that fails halfway — an element that does not parse after ones that do — leaves the
 * table exactly as before; the session goes on applying afterwards, and a session whose
 * nft process was killed starts a new one. In a namespace of its own, removed afterwards.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { Executor } from "../../../common/executor.js";
import { NftSession } from "../../../common/nft-session.js";
import { isRoot } from "../../support/netns.js";

describe("nft session (real kernel)", () => {
  const ex = new Executor();
  const netns = `sn-t${randomBytes(3).toString("hex")}-nft`;
  let session: NftSession;
  const ruleset = () => ex.nft(["list", "ruleset"], { netns });

  before(async function () {
    if (!isRoot) this.skip();
    await ex.netnsAdd(netns);
    session = new NftSession(ex, { netns });
  });

  after(async () => {
    session?.close();
    if (isRoot) await ex.netnsDelete(netns);
  });

  it("applies transactions over one process; one that fails halfway changes nothing", async () => {
    await session.apply(
      "table ip t {\n  set s {\n    type ipv4_addr\n  }\n}\nadd element ip t s { 10.0.0.1 }\n",
    );
    const before = await ruleset();
    assert.match(before, /elements = \{ 10\.0\.0\.1 \}/);
    await assert.rejects(
      session.apply("add element ip t s { 10.0.0.2 }\nadd element ip t s { 10.0.0.300 }\n"),
      (err: unknown) =>
        isSwarmnetError(err, ErrorCode.KernelRejected) || isSwarmnetError(err, ErrorCode.KernelNotFound),
    );
    assert.equal(await ruleset(), before, "the failed transaction left the table as it was");
    await session.apply("add element ip t s { 10.0.0.3 }\n");
    assert.match(await ruleset(), /elements = \{ 10\.0\.0\.1, 10\.0\.0\.3 \}/);
    assert.deepEqual(session.stats, { applied: 2, failed: 1, starts: 1 }, "what the agent's metrics read");
  });

  it("a killed nft process is replaced on the next transaction", async () => {
    for (const pid of await ex.netnsPids(netns)) process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 100));
    // The transaction in flight when nft died may fail; the one after it applies.
    await session.apply("add element ip t s { 10.0.0.4 }\n").catch(() => undefined);
    await session.apply("add element ip t s { 10.0.0.5 }\n");
    assert.match(await ruleset(), /10\.0\.0\.5/);
    assert.equal(session.stats.starts, 2);
  });
});

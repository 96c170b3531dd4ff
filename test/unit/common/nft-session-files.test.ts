import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeStaleTransactionFiles } from "../../../common/nft-session.js";

describe("nft session transaction files", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "swarmnet-unit-nft-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("removes the files of dead processes and keeps live ones' and anything else", () => {
    const dead = spawnSync("true").pid ?? 0;
    const files = [
      `swarmnet-nft-${dead}-0a1b2c3d.nft`,
      `swarmnet-nft-${process.pid}-0a1b2c3d.nft`,
      "swarmnet-nft-notes.txt",
      "other.nft",
    ];
    for (const f of files) writeFileSync(join(dir, f), "");
    assert.deepEqual(removeStaleTransactionFiles(dir), [files[0]]);
    assert.deepEqual(readdirSync(dir).sort(), files.slice(1).sort());
  });
});

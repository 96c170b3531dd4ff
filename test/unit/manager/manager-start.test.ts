/**
 * `swarmnet manager` starting on a fresh machine: it creates its state dir (root's alone),
 * and when it cannot start it exits with its error instead of lingering with only its HTTP
 * endpoint (the Vagrant provisioning waited 25 minutes on such a manager). No etcd: both
 * happen before the manager's first etcd call.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { CLI_MAIN } from "../../../deploy/lab/lab.js";
import { eventually } from "../../support/lab-cli.js";

/** Flags of a manager that finds no etcd: ports of its own, any free one. */
const managerArgs = (stateDir: string) => [
  CLI_MAIN,
  "manager",
  "--node-name=t1",
  "--listen=127.0.0.1:0",
  "--etcd=http://127.0.0.1:1",
  `--state-dir=${stateDir}`,
  "--metrics-addr=127.0.0.1:0",
];

describe("manager start on a fresh machine", function () {
  this.timeout(60_000);
  let tmp = "";
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), "swarmnet-manager-start-"));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it("creates its state dir, mode 0700, and listens on its local socket there", async () => {
    const stateDir = join(tmp, "var/lib/swarmnet");
    const manager = execa(process.execPath, managerArgs(stateDir), { reject: false });
    try {
      assert.ok(await eventually(async () => existsSync(join(stateDir, "manager.sock")), 100, 200));
      assert.equal(statSync(stateDir).mode & 0o777, 0o700);
    } finally {
      manager.kill("SIGTERM");
      await manager;
    }
  });

  it("exits with one line naming what failed when it cannot start", async () => {
    writeFileSync(join(tmp, "file"), "");
    const r = await execa(process.execPath, managerArgs(join(tmp, "file/state")), { reject: false });
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), /^swarmnet: ENOTDIR: not a directory, mkdir .*file\/state'$/m);
  });
});

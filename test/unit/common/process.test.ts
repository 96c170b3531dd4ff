import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { isAliveAs } from "../../../common/process.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("isAliveAs: a process alive and recognised by its command line", () => {
  it("counts a process just spawned as ours before it shows its command line, and tells a stranger apart once it does", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    try {
      // At once: the kernel may show no command line yet (the child has not exec'd).
      assert.equal(
        isAliveAs(pid, (cmd) => cmd.startsWith("sleep")),
        true,
      );
      await sleep(200);
      assert.equal(
        isAliveAs(pid, (cmd) => cmd.startsWith("sleep")),
        true,
      );
      assert.equal(
        isAliveAs(pid, (cmd) => cmd.startsWith("etcd")),
        false,
        "a reused pid with another program is not ours",
      );
    } finally {
      child.kill("SIGKILL");
    }
    await new Promise((r) => child.once("exit", r));
    assert.equal(
      isAliveAs(pid, () => true),
      false,
      "an exited process is not alive",
    );
  });
});

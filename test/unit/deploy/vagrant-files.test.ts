/**
 * The Vagrant lab's files, checked on this host without Vagrant or a VM (the provisioning
 * itself runs for real in VM nodes: test/vm/vagrant-provision.ts):
 *   - the Vagrantfile parses (`ruby -c`) and, run against a stub of Vagrant's config
 *     object, defines the nodes, addresses and provisioning steps it says it does, and
 *     refuses a bad setting in one line;
 *   - provision.sh is valid bash (and shellcheck-clean where shellcheck is installed);
 *   - the systemd units verify (`systemd-analyze verify`), and every flag their command
 *     lines give the agent and the manager is one those commands accept.
 * A check whose tool this machine lacks (ruby, shellcheck, systemd-analyze: none is
 * needed to run swarmnet, so deploy/install.sh installs none) is skipped and says why.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { findOnPath } from "../../../common/process.js";
import { CLI_MAIN } from "../../../deploy/lab/lab.js";

const DIR = fileURLToPath(new URL("../../../../deploy/vagrant/", import.meta.url));
const UNITS = ["swarmnet-etcd.service", "swarmnet-manager.service", "swarmnet-agent.service"];

function requireTool(ctx: Mocha.Context, tool: string): void {
  if (findOnPath(tool) !== undefined) return;
  console.log(`      skipped: ${tool} is not installed on this machine`);
  ctx.skip();
}

/**
 * Loads the Vagrantfile with `Vagrant` stubbed: every call on the config object is
 * recorded as "path.to.method" with its arguments, a node's calls under its name
 * (`config.vm.define "n1" do |node| node.vm.network …` → "n1.vm.network").
 */
const STUB = `
require "json"
class Rec
  def initialize(log, path) @log = log; @path = path end
  def respond_to_missing?(*) true end
  def method_missing(name, *args, **kw, &blk)
    child = Rec.new(@log, name == :define ? [args[0].to_s] : @path + [name.to_s])
    @log << { "call" => (@path + [name.to_s]).join("."), "args" => args, "kw" => kw }
    blk.call(child) if blk && name != :ruby
    child
  end
end
module Vagrant
  def self.require_version(*) end
  def self.configure(_version)
    log = []
    yield Rec.new(log, [])
    puts JSON.generate(log)
  end
end
load ARGV[0]
`;

interface Call {
  call: string;
  args: unknown[];
  kw: Record<string, unknown>;
}

async function vagrantfile(
  env: Record<string, string>,
): Promise<{ exitCode: number; calls: Call[]; stderr: string }> {
  const r = await execa("ruby", ["-e", STUB, join(DIR, "Vagrantfile")], { reject: false, env, cwd: DIR });
  const calls = r.exitCode === 0 ? (JSON.parse(String(r.stdout)) as Call[]) : [];
  return { exitCode: r.exitCode ?? 1, calls, stderr: String(r.stderr) };
}

describe("Vagrant lab files (deploy/vagrant)", () => {
  describe("Vagrantfile", () => {
    it("parses (ruby -c)", async function () {
      requireTool(this, "ruby");
      const r = await execa("ruby", ["-c", join(DIR, "Vagrantfile")], { reject: false });
      assert.equal(r.exitCode, 0, String(r.stderr));
    });

    it("defines n1…nN on the private network, n1 the manager, the others joining it", async function () {
      requireTool(this, "ruby");
      const r = await vagrantfile({ SWARMNET_NODES: "4", SWARMNET_SUBNET: "10.20.30" });
      assert.equal(r.exitCode, 0, r.stderr);
      const of = (call: string) => r.calls.filter((c) => c.call === call);
      assert.deepEqual(of("vm.box=")[0]?.args, ["debian/bookworm64"]);
      assert.deepEqual(
        of("vm.define").map((c) => c.args[0]),
        ["n1", "n2", "n3", "n4"],
      );
      for (let i = 1; i <= 4; i++) {
        const n = `n${i}`;
        assert.deepEqual(of(`${n}.vm.network`)[0]?.args, ["private_network"]);
        assert.equal(of(`${n}.vm.network`)[0]?.kw["ip"], `10.20.30.${10 + i}`);
        const [install, cluster] = of(`${n}.vm.provision`);
        assert.match(String(install?.kw["inline"]), /provision\.sh install$/);
        assert.match(
          String(cluster?.kw["inline"]),
          i === 1 ? /provision\.sh manager$/ : /provision\.sh join$/,
        );
        assert.deepEqual(cluster?.kw["env"], {
          SWARMNET_NODE: n,
          SWARMNET_ADDR: `10.20.30.${10 + i}`,
          SWARMNET_MANAGER_ADDR: "10.20.30.11",
        });
      }
      assert.equal(of("n1.trigger.after").length, 1, "n1 copies its join token back to the host");
      const synced = of("vm.synced_folder")[0];
      assert.deepEqual(synced?.args, ["../..", "/vagrant"]);
      assert.equal(synced?.kw["type"], "rsync");
    });

    it("defaults to three nodes", async function () {
      requireTool(this, "ruby");
      const r = await vagrantfile({});
      assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(
        r.calls.filter((c) => c.call === "vm.define").map((c) => c.args[0]),
        ["n1", "n2", "n3"],
      );
    });

    for (const [name, value] of [
      ["SWARMNET_NODES", "0"],
      ["SWARMNET_NODES", "three"],
      ["SWARMNET_SUBNET", "192.168.256"],
      ["SWARMNET_SYNC_TYPE", "ftp"],
    ] as const) {
      it(`refuses ${name}=${value} in one line naming it`, async function () {
        requireTool(this, "ruby");
        const r = await vagrantfile({ [name]: value });
        assert.notEqual(r.exitCode, 0);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${name} must be`));
      });
    }
  });

  describe("provision.sh", () => {
    it("is valid bash", async () => {
      const r = await execa("bash", ["-n", join(DIR, "provision.sh")], { reject: false });
      assert.equal(r.exitCode, 0, String(r.stderr));
    });

    it("is shellcheck-clean", async function () {
      requireTool(this, "shellcheck");
      const r = await execa("shellcheck", [join(DIR, "provision.sh")], { reject: false });
      assert.equal(r.exitCode, 0, String(r.stdout));
    });
  });

  describe("systemd units", () => {
    it("verify with systemd-analyze", async function () {
      requireTool(this, "systemd-analyze");
      // The units run /usr/local/bin/swarmnet, which `provision.sh install` writes on a
      // node and this host does not have: verified here against a stand-in at another path.
      const tmp = mkdtempSync(join(tmpdir(), "swarmnet-units-"));
      try {
        const stub = join(tmp, "swarmnet");
        writeFileSync(stub, "#!/bin/sh\n");
        chmodSync(stub, 0o755);
        const files = UNITS.map((u) => {
          const f = join(tmp, u);
          writeFileSync(
            f,
            readFileSync(join(DIR, "units", u), "utf8").replaceAll("/usr/local/bin/swarmnet", stub),
          );
          return f;
        });
        const r = await execa("systemd-analyze", ["verify", "--man=no", ...files], { reject: false });
        assert.equal(r.exitCode, 0, `${String(r.stdout)}${String(r.stderr)}`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });

    for (const [unit, command] of [
      ["swarmnet-agent.service", "agent"],
      ["swarmnet-manager.service", "manager"],
    ] as const) {
      it(`${unit} gives \`swarmnet ${command}\` only flags it accepts`, async () => {
        const text = readFileSync(join(DIR, "units", unit), "utf8");
        const exec = /^ExecStart=\/usr\/local\/bin\/swarmnet (\S+) (.*)$/m.exec(text);
        assert.equal(exec?.[1], command);
        const help = await execa(process.execPath, [CLI_MAIN, command, "--help"]);
        const flags = [...(exec?.[2] ?? "").matchAll(/--([a-z-]+)=/g)].map((m) => m[1] ?? "");
        assert.ok(flags.length >= 4, exec?.[2]);
        for (const f of flags)
          assert.ok(String(help.stdout).includes(`--${f} `), `--${f} is no flag of ${command}`);
      });
    }
  });
});

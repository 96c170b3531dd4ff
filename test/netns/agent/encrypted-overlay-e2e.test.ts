/**
 * Issue 7's acceptance through the whole system (managers hand out keys, agents run the
 * encryption backend the probe chose — the user-space datapath on a kernel without ESP):
 * ping and a 10 MB transfer over an encrypted overlay; a capture on the underlay during
 * the transfer holds no plaintext VXLAN header of its VNI and none of the transfer's
 * bytes, while the same capture for a plain overlay holds both (so the test can see
 * plaintext); with a 2 s rotation interval, a paced TCP stream and 20 pings a second
 * across 10 rotations lose nothing; bad encryption options are refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor } from "../../../common/executor.js";
import { parsePing, pingArgs } from "../../../bench/ping.js";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";
import { captureDuring } from "../encryption/capture.js";
import { patternBytes, transfer } from "../../support/tcp-transfer.js";

interface Inspected {
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> };
}

describe("encrypted overlay end to end (netns lab)", function () {
  const ex = new Executor();
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const c: Record<string, { ip: string; netns: string }> = {};
  const vni: Record<string, number> = {};
  const dir = mkdtempSync(join(tmpdir(), `${name}-capture-`));

  const container = async (node: string, cname: string, network: string) => {
    await lab.ok(node, "run", "-d", "--name", cname, "--network", network, "--", "sleep", "3600");
    const i = (JSON.parse(await lab.ok(node, "inspect", cname)) as Inspected[])[0] as Inspected;
    c[cname] = {
      ip: Object.values(i.NetworkSettings.Networks)[0]?.IPAddress ?? "",
      netns: i.NetworkSettings.SandboxKey.replace("/run/netns/", ""),
    };
  };

  /**
   * Everything on the underlay bridge while `during` runs, frames concatenated. Started
   * and stopped by behaviour (tcpdump listening; SIGINT after), never by a fixed time
   * a slower machine could overrun.
   */
  const capture = async (tag: string, during: () => Promise<void>): Promise<Buffer> => {
    const { frames } = await captureDuring(ex, `sn-${name}-u`, "br0", dir, tag, during);
    return Buffer.concat(frames);
  };
  const vxlanHeader = (v: number) =>
    Buffer.from([0x08, 0, 0, 0, (v >> 16) & 255, (v >> 8) & 255, v & 255, 0]);

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "2"]);
    assert.equal(up.exitCode, 0, up.stderr);
    for (const [net, opts] of [
      ["enc1", ["--opt", "encrypted"]],
      ["plain1", []],
    ] as const) {
      await lab.ok("n1", "network", "create", "-d", "overlay", "--attachable", ...opts, net);
      const out = JSON.parse(await lab.ok("n1", "network", "inspect", net)) as {
        Options: Record<string, string>;
      }[];
      vni[net] = Number(out[0]?.Options["com.docker.network.driver.overlay.vxlanid_list"]);
    }
    await container("n1", "ea", "enc1");
    await container("n2", "eb", "enc1");
    await container("n1", "pa", "plain1");
    await container("n2", "pb", "plain1");
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("pings across nodes over the encrypted overlay", async () => {
    assert.ok(await eventually(() => lab.ping("n1", "ea", c["eb"]?.ip ?? ""), 60), "ea -> eb");
    assert.ok(await eventually(() => lab.ping("n1", "pa", c["pb"]?.ip ?? ""), 60), "pa -> pb");
  });

  it("carries 10 MB with no plaintext on the underlay; the plain overlay's capture shows plaintext", async () => {
    const marker = patternBytes(4 * 1024 * 1024, 32);
    let encrypted = { sent: "", received: "" };
    const encCapture = await capture("enc", async () => {
      encrypted = await transfer(
        ex,
        c["ea"]?.netns ?? "",
        c["eb"]?.netns ?? "",
        c["eb"]?.ip ?? "",
        5002,
        10 * 1024 * 1024,
      );
    });
    assert.equal(encrypted.received, encrypted.sent, "10 MB intact over the encrypted overlay");
    // tcpdump may drop packets when the machine is loaded: half the transfer is proof
    // enough that the capture was looking while it ran.
    assert.ok(
      encCapture.length > 5 * 1024 * 1024,
      `the capture saw the transfer (${encCapture.length} bytes of a 10 MiB transfer)`,
    );
    assert.equal(
      encCapture.indexOf(vxlanHeader(vni["enc1"] ?? 0)),
      -1,
      "no plaintext VXLAN header of the VNI",
    );
    assert.equal(encCapture.indexOf(marker), -1, "none of the transfer's bytes in clear");

    let plain = { sent: "", received: "" };
    const plainCapture = await capture("plain", async () => {
      plain = await transfer(
        ex,
        c["pa"]?.netns ?? "",
        c["pb"]?.netns ?? "",
        c["pb"]?.ip ?? "",
        5003,
        10 * 1024 * 1024,
      );
    });
    assert.equal(plain.received, plain.sent);
    assert.notEqual(
      plainCapture.indexOf(vxlanHeader(vni["plain1"] ?? 0)),
      -1,
      "the capture can see a VXLAN header",
    );
    assert.notEqual(plainCapture.indexOf(marker), -1, "the capture can see the transfer's bytes");
  });

  it("loses no ping and no byte across 10 key rotations 2 s apart", async () => {
    const tagsBefore = await primaryTag();
    await lab.ok("n1", "swarm", "update", "--key-rotation-interval", "2s");
    const pings = ex.runIn(c["ea"]?.netns ?? "", pingArgs(c["eb"]?.ip ?? "", 440, 0.05), {
      timeoutMs: 90_000,
    });
    const stream = transfer(
      ex,
      c["ea"]?.netns ?? "",
      c["eb"]?.netns ?? "",
      c["eb"]?.ip ?? "",
      5004,
      110 * 1024 * 1024,
      5 * 1024 * 1024,
    );
    const [p, s] = await Promise.all([pings, stream]);
    await lab.ok("n1", "swarm", "update", "--key-rotation-interval", "12h");
    const rotations = (await primaryTag()) - tagsBefore;
    assert.ok(rotations >= 10, `at least 10 rotations happened (${rotations})`);
    const answered = parsePing(p.stdout, 440);
    assert.ok(answered.sent === 440 && answered.received === 440, p.stdout.slice(-300));
    assert.equal(s.received, s.sent, "the stream's checksum matches");
  });

  it("refuses encrypted=maybe and encryption on a non-overlay driver", async () => {
    for (const args of [
      ["network", "create", "-d", "overlay", "--opt", "encrypted=maybe", "x1"],
      ["network", "create", "-d", "bridge", "--opt", "encrypted", "x2"],
    ]) {
      const r = await lab.sx("n1", ...args);
      assert.equal(r.exitCode, 1, args.join(" "));
      assert.match(r.stderr, /encrypt/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const ls = await lab.ok("n1", "network", "ls");
    assert.ok(!/\bx1\b|\bx2\b/.test(ls), "nothing stored");
  });

  async function primaryTag(): Promise<number> {
    const out = JSON.parse(await lab.ok("n1", "swarm", "inspect")) as {
      EncryptionKeys: { Data: { Tag: number; Role: string }[] };
    }[];
    return out[0]?.EncryptionKeys.Data.find((k) => k.Role === "primary")?.Tag ?? 0;
  }
});

/**
 * The long-lived helper that binds sockets inside other namespaces for this process (the
 * embedded DNS's), on the real kernel: one helper serves request after request and is
 * never left inside a namespace it bound in; a namespace that does not exist fails alone;
 * a helper killed between requests is replaced.
 * Two namespaces of their own, removed afterwards.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Executor } from "../../../common/executor.js";
import type { NetnsListeners } from "../../../common/netns-listen.js";
import { childrenOf } from "../../../common/process.js";
import { isRoot } from "../../support/netns.js";

describe("netns listen helper (real kernel)", () => {
  const ex = new Executor();
  const prefix = `sn-t${randomBytes(3).toString("hex")}-ls`;
  const a = `${prefix}a`;
  const b = `${prefix}b`;
  const held: NetnsListeners[] = [];
  /** This process's helpers (other agents on the machine have their own). */
  const helperPids = (): number[] => childrenOf(process.pid, (cmd) => cmd.includes("netns-listen.py"));

  before(async function () {
    if (!isRoot) this.skip();
    await ex.netnsAdd(a);
    await ex.netnsAdd(b);
    for (const ns of [a, b]) await ex.ip(["link", "set", "lo", "up"], { netns: ns });
  });

  after(async () => {
    for (const l of held) {
      l.udp.close();
      l.tcp.close();
    }
    ex.close();
    if (isRoot) for (const ns of [a, b]) await ex.netnsDelete(ns);
  });

  const listen = async (namespaces: string[]) => {
    const out = await ex.listenIn(namespaces, "127.0.0.11", 53);
    for (const v of out.values()) if (!(v instanceof Error)) held.push(v);
    return out;
  };

  it("binds in each namespace through one helper, request after request", async () => {
    const first = await listen([a]);
    assert.ok(!(first.get(a) instanceof Error), String(first.get(a)));
    const second = await listen([b]);
    assert.ok(!(second.get(b) instanceof Error), String(second.get(b)));
    for (const ns of [a, b]) {
      assert.ok(await ex.listening("udp", 53, { netns: ns }), `udp in ${ns}`);
      assert.ok(await ex.listening("tcp", 53, { netns: ns }), `tcp in ${ns}`);
    }
    assert.equal(ex.spawned.get("python3"), 1, "one helper served both requests");
    assert.equal(helperPids().length, 1);
    // Not left inside: removing a container kills the processes in its namespace.
    for (const ns of [a, b]) assert.deepEqual(await ex.netnsPids(ns), [], `no process in ${ns}`);
  });

  it("a namespace that does not exist fails alone; one already bound says so", async () => {
    const out = await listen([`${prefix}-missing`, a]);
    assert.match(String(out.get(`${prefix}-missing`)), /cannot listen on 127\.0\.0\.11:53 in .*-missing/);
    assert.match(String(out.get(a)), /in use/i, "a's port is held by the first test's sockets");
  });

  it("the sockets it hands over receive what is sent inside the namespace", async () => {
    const sock = held[0] as NetnsListeners;
    const got = new Promise<string>((resolve) => sock.udp.once("message", (m) => resolve(m.toString())));
    // The test process is in the host namespace; the datagram goes from inside `a`.
    const send =
      "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('127.0.0.11', 53))";
    await ex.ip(["netns", "exec", a, "python3", "-c", send]);
    assert.equal(await got, "hello");
  });

  it("a helper killed between requests is replaced by the next request", async () => {
    const started = ex.spawned.get("python3") ?? 0;
    for (const pid of helperPids()) process.kill(pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    for (const l of held.splice(0)) {
      l.udp.close();
      l.tcp.close();
    }
    const out = await listen([a, b]);
    assert.ok(!(out.get(a) instanceof Error), String(out.get(a)));
    assert.ok(!(out.get(b) instanceof Error), String(out.get(b)));
    assert.equal(ex.spawned.get("python3"), started + 1);
    assert.equal(helperPids().length, 1);
  });
});

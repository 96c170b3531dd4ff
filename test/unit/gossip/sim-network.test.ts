import assert from "node:assert/strict";
import { SimNetwork } from "../../../agent/gossip/sim-network.js";

function listen(sim: SimNetwork, addr: string): { got: string[]; t: ReturnType<SimNetwork["transport"]> } {
  const got: string[] = [];
  const t = sim.transport(addr);
  t.listen({
    packet: (d, from) => got.push(`${from}:${Buffer.from(d).toString()}@${sim.clock.now()}`),
    stream: (d, _from, reply) => reply(Buffer.from(`re:${Buffer.from(d).toString()}`)),
  });
  return { got, t };
}

describe("simulated network", () => {
  it("delivers after the link latency and loses about `loss` of the packets", () => {
    const sim = new SimNetwork({ seed: 1, link: { latencyMs: 5, jitterMs: 0 } });
    const a = listen(sim, "a:1");
    const b = listen(sim, "b:1");
    a.t.sendPacket("b:1", Buffer.from("hi"));
    sim.run(4);
    assert.deepEqual(b.got, []);
    sim.run(1);
    assert.deepEqual(b.got, ["a:1:hi@5"]);
    sim.setLink("a:1", "b:1", { loss: 0.3 });
    for (let i = 0; i < 10_000; i++) a.t.sendPacket("b:1", Buffer.from("x"));
    sim.run(10);
    const lost = 10_001 - b.got.length;
    assert.ok(lost > 2700 && lost < 3300, `lost ${lost}`);
  });

  it("partitions cut packets and streams until healed", () => {
    const sim = new SimNetwork({ seed: 2, link: { jitterMs: 0 } });
    const a = listen(sim, "a:1");
    const b = listen(sim, "b:1");
    sim.partition([["a:1"], ["b:1"]]);
    a.t.sendPacket("b:1", Buffer.from("lost"));
    let result = "";
    a.t.request("b:1", Buffer.from("q"), 1000, (err) => (result = err?.message ?? "ok"));
    sim.run(2000);
    assert.deepEqual(b.got, []);
    assert.match(result, /timed out/);
    sim.heal();
    a.t.request("b:1", Buffer.from("q"), 1000, (_e, r) => (result = Buffer.from(r ?? []).toString()));
    sim.run(10);
    assert.equal(result, "re:q");
  });

  it("a paused member gets its timers and packets late, in order; a crashed one never", () => {
    const sim = new SimNetwork({ seed: 3, link: { jitterMs: 0 } });
    const a = listen(sim, "a:1");
    const b = listen(sim, "b:1");
    const clock = sim.nodeClock("b:1");
    const ticks: number[] = [];
    clock.setTimeout(() => ticks.push(sim.clock.now()), 100);
    sim.pause("b:1");
    a.t.sendPacket("b:1", Buffer.from("while-stopped"));
    sim.run(500);
    assert.deepEqual([...ticks], []);
    assert.deepEqual(b.got, []);
    sim.resume("b:1");
    assert.deepEqual([...ticks], [500]);
    assert.deepEqual(b.got, ["a:1:while-stopped@500"]);
    sim.crash("b:1");
    clock.setTimeout(() => ticks.push(-1), 10);
    a.t.sendPacket("b:1", Buffer.from("gone"));
    let refused = "";
    a.t.request("b:1", Buffer.from("q"), 1000, (err) => (refused = err?.message ?? ""));
    sim.run(100);
    assert.deepEqual([...ticks], [500]);
    assert.equal(b.got.length, 1);
    assert.match(refused, /refused/);
  });
});

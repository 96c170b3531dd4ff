/**
 * The embedded DNS's sockets for unit tests: bound on 127.0.0.1 (a fake kernel has no
 * namespaces to bind in), by the namespace the agent asked for, with a resolver client.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { createServer } from "node:net";
import dnsPacket from "dns-packet";
import type { NetnsListeners } from "../../common/executor.js";

export class LoopbackListeners {
  readonly open = new Map<string, NetnsListeners>();

  async listenAll(namespaces: readonly string[]): Promise<Map<string, NetnsListeners | Error>> {
    return new Map(await Promise.all(namespaces.map(async (ns) => [ns, await this.listen(ns)] as const)));
  }
  async listen(netns: string): Promise<NetnsListeners> {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
    udp.on("close", () => this.open.delete(netns));
    this.open.set(netns, { udp, tcp });
    return { udp, tcp };
  }

  /** An A query to the container's 127.0.0.11 stand-in: the addresses answered. */
  async resolve(netns: string, name: string): Promise<string[]> {
    const l = this.open.get(netns);
    assert.ok(l !== undefined, `no DNS listener in ${netns}`);
    const client = dgram.createSocket("udp4");
    try {
      const answer = new Promise<Buffer>((r) => client.once("message", r));
      const q = dnsPacket.encode({ type: "query", id: 7, questions: [{ type: "A", name }] });
      client.send(q, l.udp.address().port, "127.0.0.1");
      const p = dnsPacket.decode(await answer);
      return (p.answers ?? []).flatMap((a) => (a.type === "A" ? [a.data] : []));
    } finally {
      client.close();
    }
  }
}

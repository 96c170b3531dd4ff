/**
 * Readiness of a task's process (agent/sandbox/readiness.ts): the listening sockets read
 * from a /proc/net table, and the ports a task waits for.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { listeningInTable, notListening, readyPorts } from "../../../agent/sandbox/readiness.js";

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0 0
`;

describe("task readiness (listening sockets)", () => {
  it("reads the listening ports of a table: TCP in LISTEN only, UDP bound; IPv6 addresses too", () => {
    assert.deepEqual([...listeningInTable(TCP, "tcp")], [80]);
    assert.deepEqual([...listeningInTable(UDP6, "udp")], [53]);
    assert.deepEqual([...listeningInTable("", "tcp")], []);
  });

  it("a task waits for each distinct target port of its published ports", () => {
    assert.deepEqual(
      readyPorts([
        { targetPort: 80, protocol: "tcp" },
        { targetPort: 80, protocol: "tcp" },
        { targetPort: 53, protocol: "udp" },
      ]),
      ["53/udp", "80/tcp"],
    );
    assert.deepEqual(readyPorts([]), []);
  });

  it("this process: a port is ready once a socket listens on it, not before", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const udp = createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    try {
      const tcpPort = (server.address() as { port: number }).port;
      const udpPort = udp.address().port;
      assert.deepEqual(notListening(process.pid, [`${tcpPort}/tcp`, `${udpPort}/udp`]), []);
      assert.deepEqual(notListening(process.pid, [`${udpPort}/tcp`]), [`${udpPort}/tcp`]);
    } finally {
      server.close();
      udp.close();
    }
  });
});

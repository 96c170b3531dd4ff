/**
 * Helper process of `bench/mesh.ts`, run inside the client namespace: `node
 * mesh-connect-probe.js HOST PORT N` opens N TCP connections one after another and prints
 * `{"samplesUs":[…],"failures":k}`: the time from `connect()` to the established socket
 * (SYN → SYN/ACK, the packet the mesh's maps are looked up for), in microseconds.
 */
import { connect } from "node:net";

function once(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const s = connect({ host, port });
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(undefined);
    });
    s.once("connect", () => {
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      s.destroy();
      resolve(us);
    });
    s.once("error", () => resolve(undefined));
  });
}

const [host = "", port = "0", count = "0"] = process.argv.slice(2);
const samplesUs: number[] = [];
let failures = 0;
for (let i = 0; i < Number(count); i++) {
  const us = await once(host, Number(port));
  if (us === undefined) failures++;
  else samplesUs.push(us);
}
process.stdout.write(JSON.stringify({ samplesUs, failures }) + "\n");

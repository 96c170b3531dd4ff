/**
 * The host end of a VM node's control link: one small process per VM that holds qemu's
 * virtio-serial socket (qemu serves one connection at a time) and accepts any number of
 * clients on a unix socket in the node's lab folder, giving each a session on the link
 * (frames.ts). A file-system socket, so the host's CLI reaches it without entering any
 * namespace; the relay itself runs inside the lab's underlay namespace beside its qemu,
 * so `lab down` finds it there. It exits when qemu's side closes (the VM is gone).
 *
 *   node ctl-relay.js <qemu chardev socket> <listen socket>
 */
import { connect, createServer, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { LinkFrame, linkFrame, linkReader } from "./frames.js";

const [qemuPath, listenPath] = process.argv.slice(2);
if (qemuPath === undefined || listenPath === undefined) {
  process.stderr.write("usage: ctl-relay <qemu socket> <listen socket>\n");
  process.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectQemu(path: string): Promise<Socket> {
  for (let i = 0; ; i++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path);
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
    } catch (err) {
      if (i > 600) throw err;
      await sleep(50);
    }
  }
}

const link = await connectQemu(qemuPath);
const clients = new Map<number, Socket>();
let next = 1;
const reader = linkReader();
link.on("data", (chunk: Buffer) => {
  for (const m of reader.push(chunk)) {
    const c = clients.get(m.session);
    if (c === undefined) continue;
    if (m.kind === LinkFrame.Data) c.write(m.payload);
    else {
      clients.delete(m.session);
      c.end();
    }
  }
});
const shutdown = () => {
  for (const c of clients.values()) c.destroy();
  rmSync(listenPath, { force: true });
  process.exit(0);
};
link.on("close", shutdown);
link.on("error", shutdown);
process.on("SIGTERM", shutdown);

rmSync(listenPath, { force: true });
createServer((client) => {
  const id = next++;
  clients.set(id, client);
  client.on("data", (d: Buffer) => link.write(linkFrame(id, LinkFrame.Data, d)));
  const gone = () => {
    if (clients.delete(id)) link.write(linkFrame(id, LinkFrame.Close));
  };
  client.on("close", gone);
  client.on("error", gone);
}).listen(listenPath);

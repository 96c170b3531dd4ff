/**
 * Servers on a unix socket that only root may use: the agent's control socket (HTTP) and
 * the manager's local socket (gRPC). The socket is created under umask 077 (so it is
 * never reachable by others, not even for the instant before a chmod) and then set to
 * 0600. Whatever was at the path before (a socket left by a crash) is removed first.
 */
import { chmodSync, rmSync } from "node:fs";
import type { Server } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "./errors.js";

async function rootOnly(path: string, bind: () => Promise<void>): Promise<void> {
  rmSync(path, { force: true });
  const old = process.umask(0o177);
  try {
    await bind();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new SwarmnetError(ErrorCode.Unavailable, `cannot listen on ${path}: ${why}`, { cause: err });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
}

export async function bindLocalSocket(server: grpc.Server, path: string): Promise<void> {
  await rootOnly(
    path,
    () =>
      new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
  );
}

export async function listenLocalSocket(server: Server, path: string): Promise<void> {
  await rootOnly(
    path,
    () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      }),
  );
}

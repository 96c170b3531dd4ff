/**
 * A gRPC server on a unix socket that only root may use: the agent's control socket and
 * the manager's local socket. The socket is created under umask 077 (so it is never
 * reachable by others, not even for the instant before a chmod) and then set to 0600.
 * Whatever was at the path before (a socket left by a crash) is removed first.
 */
import { chmodSync, rmSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "./errors.js";

export async function bindLocalSocket(server: grpc.Server, path: string): Promise<void> {
  rmSync(path, { force: true });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err
          ? reject(
              new SwarmnetError(ErrorCode.Unavailable, `cannot listen on ${path}: ${err.message}`, {
                cause: err,
              }),
            )
          : resolve(),
      ),
    );
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
}

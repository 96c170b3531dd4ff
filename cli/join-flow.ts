/**
 * `swarm join` on the wire, as Docker's: the token pins the CA before anything secret
 * is sent.
 *
 *   1. over TLS that cannot be verified yet, ask the manager for its trust bundle
 *      (Ca.GetRootCACertificate, public) and compare its digest with the token's: a
 *      mismatch is a man in the middle, or a token of another cluster — refused, and the
 *      token's secret was never sent
 *   2. make the node's key pair and a CSR here (the private key never leaves the node)
 *   3. over TLS verified against that bundle (the server must be a manager), send the
 *      token and the CSR (Cluster.Join); the answer is the node's id, role and
 *      certificate chain
 *
 * Returns what the node stores (node-files.ts, credentials.ts); used by the CLI, the
 * control benchmark and the tests, which join synthetic nodes the same way.
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { ManagerPool } from "../common/manager-pool.js";
import { parseJoinToken } from "../common/pki/join-token.js";
import type { NodeTlsFiles } from "../common/pki/node-files.js";
import { clientCredentials, TlsSource, unverifiedCredentials } from "../common/pki/tls.js";
import { bundleDigest, nodeCertInfo } from "../common/pki/cert-info.js";
import type { GetRootCAResponse__Output } from "../proto/generated/swarmnet/v1/GetRootCAResponse.js";
import type { JoinResponse__Output } from "../proto/generated/swarmnet/v1/JoinResponse.js";

export interface JoinFlowInput {
  token: string;
  /** host:port of a manager. */
  address: string;
  hostname: string;
  advertiseAddr: string;
  underlayAddrs: string[];
}

export interface JoinedNode {
  response: JoinResponse__Output;
  files: NodeTlsFiles;
}

const JOIN_TIMEOUT_MS = 15_000;

async function once<T>(
  address: string,
  credentials: grpc.ChannelCredentials,
  fn: Parameters<ManagerPool["call"]>[0],
) {
  const pool = new ManagerPool({ addresses: () => [address], credentials, callTimeoutMs: JOIN_TIMEOUT_MS });
  try {
    return (await pool.call(fn)) as T;
  } finally {
    pool.close();
  }
}

export async function joinFlow(input: JoinFlowInput): Promise<JoinedNode> {
  const { digest } = parseJoinToken(input.token);
  const root = await once<GetRootCAResponse__Output>(input.address, unverifiedCredentials(), (c, o, cb) =>
    c.ca.GetRootCACertificate({}, o, cb),
  );
  if (bundleDigest(root.trustBundle) !== digest) {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      `the manager at ${input.address} does not have the CA this join token names: a man in the middle, or a token of another cluster (or from before a CA rotation)`,
    );
  }
  // Loaded on use: the issuing library costs every CLI command start-up time.
  const { createCsr, generateKeyPair } = await import("../common/pki/x509.js");
  const key = await generateKeyPair();
  const csr = await createCsr(key);
  const trust = new TlsSource({ trustPem: root.trustBundle });
  const res = await once<JoinResponse__Output>(
    input.address,
    clientCredentials(trust, { withIdentity: false }),
    (c, o, cb) =>
      c.cluster.Join(
        {
          token: input.token,
          hostname: input.hostname,
          advertiseAddr: input.advertiseAddr,
          underlayAddrs: input.underlayAddrs,
          csr,
        },
        o,
        cb,
      ),
  );
  const info = nodeCertInfo(res.certificate);
  if (info.nodeId !== res.nodeId || info.role !== res.role) {
    throw new SwarmnetError(ErrorCode.Internal, "the manager's certificate does not name the node it joined");
  }
  return {
    response: res,
    files: { keyPem: key.privateKeyPem, chainPem: res.certificate, trustPem: res.trustBundle },
  };
}

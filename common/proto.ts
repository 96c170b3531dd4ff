/**
 * Loads the wire format from `proto/swarmnet.proto` at run time.
 *
 * Decision (made once): the .proto files are *loaded*, not compiled to JS. protobufjs
 * reflection (for gossip's packet codec) and @grpc/proto-loader (for gRPC services) both
 * read the same files, so there is no generated JS to drift from the source. Static
 * typing comes from `proto-loader-gen-types`, which `npm run build` runs into
 * `proto/generated/` (types only, not committed): a field renamed in the .proto breaks
 * the TypeScript build instead of failing at run time.
 */
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import * as protoLoader from "@grpc/proto-loader";

/** The compiled module sits at dist/common/proto.js, two levels below the repo root. */
export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
export const PROTO_ENTRY = "swarmnet.proto";

/** Options shared by the codec and gRPC so both see identical JS shapes. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let root: protobuf.Root | undefined;

/** The protobufjs root with every swarmnet message (cached). */
export function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => (target.startsWith("/") ? target : PROTO_DIR + target);
    r.loadSync(PROTO_ENTRY, { keepCase: false });
    r.resolveAll();
    root = r;
  }
  return root;
}

export function protoType(name: string): protobuf.Type {
  return protoRoot().lookupType(`swarmnet.v1.${name}`);
}

let packageDefinition: protoLoader.PackageDefinition | undefined;

/** The package definition for @grpc/grpc-js (cached). */
export function grpcPackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(PROTO_ENTRY, PROTO_LOADER_OPTIONS);
  return packageDefinition;
}

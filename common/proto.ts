/**
 * Loads the wire format from `proto/swarmnet.proto` at run time.
 *
 * Decision (made once): the .proto files are *loaded*, not compiled to JS. protobufjs
 * reflection reads them once (as the JSON `npm run build` parses them into); gossip's
 * packet codec and the gRPC services both use that one root, so there is no generated JS
 * to drift from the source. Static typing comes from `proto-loader-gen-types`, which
 * `npm run build` runs into `proto/generated/` (types only, not committed): a field
 * renamed in the .proto breaks the TypeScript build instead of failing at run time.
 *
 * The gRPC package definition is built here from that root rather than by
 * @grpc/proto-loader's loadSync: proto-loader parsed the files a second time and made a
 * descriptor of every message for reflection, which we never serve — about 130 ms of CPU
 * in every process that speaks gRPC, against about 35 ms now. The methods are what
 * proto-loader makes (the same serializers, paths and camel-case aliases; a unit test
 * compares them), so the wire and the clients are the same.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { loadPackageDefinition, MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import protobuf from "protobufjs";

/** The compiled module sits at dist/common/proto.js, two levels below the repo root. */
export const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
export const PROTO_ENTRY = "swarmnet.proto";
/**
 * The .proto files parsed at build time (`npm run build`, deploy/proto-json.ts), as
 * protobufjs JSON: a process reads that in half the time parsing the files takes.
 */
export const PROTO_JSON = fileURLToPath(new URL("../proto/swarmnet.json", import.meta.url));

/** How gRPC messages become JS objects (proto-loader's options, as the generated types assume). */
const GRPC_OBJECTS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Parses the .proto files (the build does, to write PROTO_JSON). */
export function parseProtoFiles(): protobuf.Root {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith("/") ? target : PROTO_DIR + target);
  r.loadSync(PROTO_ENTRY, { keepCase: false });
  return r;
}

let root: protobuf.Root | undefined;

/** The protobufjs root with every swarmnet message (cached). */
export function protoRoot(): protobuf.Root {
  if (root === undefined) {
    const json = JSON.parse(readFileSync(PROTO_JSON, "utf8")) as protobuf.INamespace;
    root = protobuf.Root.fromJSON(json);
    root.resolveAll();
  }
  return root;
}

export function protoType(name: string): protobuf.Type {
  return protoRoot().lookupType(`swarmnet.v1.${name}`);
}

/** What grpc-js loads: services by full name. */
export type PackageDefinition = Parameters<typeof loadPackageDefinition>[0];

let packageDefinition: PackageDefinition | undefined;

/** The package definition for @grpc/grpc-js: every service in the root (cached). */
export function grpcPackageDefinition(): PackageDefinition {
  if (packageDefinition === undefined) {
    packageDefinition = {};
    for (const service of servicesIn(protoRoot())) {
      packageDefinition[service.fullName.slice(1)] = serviceDefinition(service);
    }
  }
  return packageDefinition;
}

function servicesIn(ns: protobuf.NamespaceBase): protobuf.Service[] {
  return ns.nestedArray.flatMap((o) =>
    o instanceof protobuf.Service ? [o] : o instanceof protobuf.Namespace ? servicesIn(o) : [],
  );
}

function serviceDefinition(service: protobuf.Service): ServiceDefinition {
  const def: Record<string, MethodDefinition<object, object>> = {};
  for (const m of service.methodsArray) {
    const request = m.resolvedRequestType as protobuf.Type;
    const response = m.resolvedResponseType as protobuf.Type;
    def[m.name] = {
      path: `/${service.fullName.slice(1)}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: camelCase(m.name),
    };
  }
  return def;
}

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) {
      throw new Error(
        `Failed to serialize message: expected object with ${type.name} structure, got array instead`,
      );
    }
    // protobufjs writes into a Buffer under Node.
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), GRPC_OBJECTS);
}

/** lodash's camelCase for PascalCase names, as proto-loader names the aliases: GetRootCACertificate → getRootCaCertificate. */
function camelCase(name: string): string {
  const words = name.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+/g) ?? [];
  return words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()))
    .join("");
}

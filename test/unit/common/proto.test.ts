/**
 * The gRPC package definition common/proto.ts builds from its one protobufjs root is the
 * one @grpc/proto-loader would make from the same files (what it replaced): the same
 * services, paths, stream kinds and camel-case aliases, and messages that encode to the
 * same bytes and decode to the same objects — so the wire and the clients are unchanged.
 */
import assert from "node:assert/strict";
import * as protoLoader from "@grpc/proto-loader";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { PROTO_DIR, PROTO_ENTRY, grpcPackageDefinition } from "../../../common/proto.js";

const services = (def: Record<string, object>): Record<string, ServiceDefinition> =>
  Object.fromEntries(Object.entries(def).filter(([, v]) => !("format" in v))) as Record<
    string,
    ServiceDefinition
  >;

describe("common: gRPC package definition", () => {
  const ours = services(grpcPackageDefinition());
  const loaders = services(
    protoLoader.loadSync(PROTO_ENTRY, {
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [PROTO_DIR],
    }),
  );

  it("has proto-loader's services and methods: paths, streams, aliases", () => {
    assert.deepEqual(Object.keys(ours).sort(), Object.keys(loaders).sort());
    for (const [name, service] of Object.entries(loaders)) {
      const mine = ours[name] as ServiceDefinition;
      assert.deepEqual(Object.keys(mine).sort(), Object.keys(service).sort(), name);
      for (const [method, m] of Object.entries(service)) {
        const o = mine[method];
        assert.ok(o !== undefined);
        const shape = (d: typeof m) => [d.path, d.requestStream, d.responseStream, d.originalName];
        assert.deepEqual(shape(o), shape(m), `${name}.${method}`);
      }
    }
  });

  it("encodes and decodes every request and response as proto-loader does", () => {
    const network = { id: "n1", name: "web", driver: "overlay", labels: { a: "b" }, vni: 4096 };
    for (const [name, service] of Object.entries(loaders)) {
      for (const [method, m] of Object.entries(service)) {
        const o = (ours[name] as ServiceDefinition)[method];
        assert.ok(o !== undefined);
        for (const value of [{}, { network, networks: [network], name: "x", revision: "12" }]) {
          const bytes = m.requestSerialize(value);
          assert.deepEqual(o.requestSerialize(value), bytes, `${name}.${method} request`);
          assert.deepEqual(o.requestDeserialize(bytes), m.requestDeserialize(bytes));
          const reply = m.responseSerialize(value);
          assert.deepEqual(o.responseSerialize(value), reply, `${name}.${method} response`);
          assert.deepEqual(o.responseDeserialize(reply), m.responseDeserialize(reply));
        }
        assert.throws(() => o.requestSerialize([]), /expected object with .* structure, got array/);
      }
    }
  });
});

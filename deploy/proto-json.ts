/**
 * Build step (`npm run build`, after tsc): parses the .proto files once into protobufjs
 * JSON at dist/proto/swarmnet.json, which every process then reads (common/proto.ts)
 * instead of parsing the files at each start.
 */
import { writeFileSync } from "node:fs";
import { PROTO_JSON, parseProtoFiles } from "../common/proto.js";

writeFileSync(PROTO_JSON, JSON.stringify(parseProtoFiles().toJSON()));

/**
 * Bundles the `swarmnet` command (and so the agent and the managers, which it starts)
 * into a few files under dist/bundle/, the last step of `npm run build` after tsc.
 *
 * Why: a Node process start was mostly module loading — about 240 files (our dist/, gRPC,
 * protobufjs, pino…), each resolved, stat'ed, read and compiled — ~330 ms of CPU per CLI
 * start here and 15–60 s inside a VM node whose root is 9p under emulation. One entry
 * file plus a chunk per command family costs a handful of reads. esbuild is pinned
 * and runs from tsc's output, so the bundle holds exactly the code tests import from
 * dist/.
 *
 * Shape:
 * - ESM with splitting: cli/main.ts imports each command family lazily; every family
 *   becomes a chunk, so a command still loads only its own code.
 * - Files locate their neighbours (.proto files, the Python helpers, worker and probe
 *   scripts, etcd3's rpc.proto) through `import.meta.url` or `__dirname`. Bundled, those
 *   would name dist/bundle/, so each file's are rewritten to name its original place
 *   (relative to the bundle, so the tree can move): paths resolve exactly as unbundled.
 * - The CommonJS dependencies' `require` of Node built-ins needs a real `require` in an
 *   ESM file: the banner makes one.
 */
import { rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const DIST = fileURLToPath(new URL("../", import.meta.url));
const BUNDLE_DIR = join(DIST, "bundle");
const ENTRY = join(DIST, "cli", "main.js");

/** Names the banner defines; prefixed so no bundled module can collide with them. */
const BANNER = [
  'import { createRequire as __snCreateRequire } from "node:module";',
  'import { dirname as __snDirname, join as __snJoin } from "node:path";',
  'import { fileURLToPath as __snToPath, pathToFileURL as __snToUrl } from "node:url";',
  "const require = __snCreateRequire(import.meta.url);",
  "const __snHere = __snDirname(__snToPath(import.meta.url));",
].join("\n");

/** Rewrites each file's own location to its place before bundling (see header). */
const ownLocation: Plugin = {
  name: "own-location",
  setup(b) {
    b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      const path = JSON.stringify(relative(BUNDLE_DIR, args.path));
      const fromNodeModules = args.path.includes("/node_modules/");
      if (!fromNodeModules && text.includes("import.meta.url")) {
        const url = `__snToUrl(__snJoin(__snHere, ${path})).href`;
        return { contents: text.replaceAll("import.meta.url", url), loader: "js" };
      }
      if (fromNodeModules && /\b__(dirname|filename)\b/.test(text)) {
        const dir = JSON.stringify(relative(BUNDLE_DIR, dirname(args.path)));
        const prelude = `var __filename = __snJoin(__snHere, ${path}), __dirname = __snJoin(__snHere, ${dir});\n`;
        return { contents: prelude + text, loader: "js" };
      }
      return undefined;
    });
  },
};

async function bundle(): Promise<void> {
  rmSync(BUNDLE_DIR, { recursive: true, force: true }); // chunks are named by content hash
  await build({
    entryPoints: { swarmnet: ENTRY },
    outdir: BUNDLE_DIR,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    banner: { js: BANNER },
    plugins: [ownLocation],
    logLevel: "warning",
    // protobufjs finds optional modules through a direct eval on purpose.
    logOverride: { "direct-eval": "silent" },
  });
}

await bundle();

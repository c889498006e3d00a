// Builds the web app into dist/ (what `catalog serve` serves at / and what a deploy copies to
// the static bucket): one ES module bundle per entry with content-hashed names, the camera's
// fallback decoder split into its own chunk (loaded only where the browser has no
// BarcodeDetector), the decoder's .wasm beside it (never fetched from a CDN), index.html
// pointing at the hashed files, and a service worker whose cache is named by the build's hash
// so a new build replaces the old shell. Prints each file's gzipped size.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const out = "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

// The decoder's WebAssembly, served from our own origin under a name carrying its hash (it is
// cached a year like the bundles): src/camera.ts learns the name through `define`.
const wasm = readFileSync("node_modules/zxing-wasm/dist/reader/zxing_reader.wasm");
const wasmName = `zxing_reader-${createHash("sha256").update(wasm).digest("hex").slice(0, 12)}.wasm`;
writeFileSync(join(out, "assets", wasmName), wasm);

const result = await build({
  entryPoints: { app: "src/main.tsx" },
  bundle: true,
  splitting: true,
  format: "esm",
  // Safari 16 (iOS 16): the first to allow WebAssembly under the CSP's 'wasm-unsafe-eval'.
  target: ["es2022", "chrome100", "safari16"],
  minify: true,
  sourcemap: false,
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  define: { ZXING_WASM: JSON.stringify(`/assets/${wasmName}`) },
});


const outputs = Object.entries(result.metafile.outputs);
const entry = (name) => outputs.find(([, o]) => o.entryPoint && o.entryPoint.endsWith(name))[0].replace(`${out}/`, "");
const app = entry("src/main.tsx");
const css = outputs.find(([p]) => p.endsWith(".css"));

for (const file of readdirSync("public")) copyFileSync(join("public", file), join(out, file));
const shell = readFileSync("src/index.html", "utf8")
  .replace("%APP%", `/${app}`)
  .replace("%CSS%", css ? `<link rel="stylesheet" href="/${css[0].replace(`${out}/`, "")}">` : "");
writeFileSync(join(out, "index.html"), shell);

// What the service worker keeps for offline use: the shell and every bundle (not the
// decoder's wasm: it is fetched, and then kept, only where it is needed).
const files = [];
const walk = (dir) => {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p.slice(out.length));
  }
};
walk(out);
const precache = ["/", ...files.filter((f) => !f.endsWith(".wasm") && f !== "/index.html")].sort();
const version = createHash("sha256");
for (const f of precache.slice(1)) version.update(f).update(readFileSync(join(out, f)));
const sw = readFileSync("src/sw.js", "utf8")
  .replace("%VERSION%", version.digest("hex").slice(0, 12))
  .replace("%PRECACHE%", JSON.stringify(precache));
writeFileSync(join(out, "sw.js"), sw);

// What a first visit loads: the page, the entry bundle with what it imports statically, its
// styles, the manifest and the worker (not the chunks loaded on demand: the camera's decoder,
// the pairing QR encoder).
const firstLoad = new Set(["/index.html", "/manifest.webmanifest", "/sw.js"]);
const walkImports = (file) => {
  const key = `/${file.replace(`${out}/`, "")}`;
  if (firstLoad.has(key)) return;
  firstLoad.add(key);
  for (const i of result.metafile.outputs[file].imports) if (i.kind === "import-statement") walkImports(i.path);
  const cssOf = result.metafile.outputs[file].cssBundle;
  if (cssOf) firstLoad.add(`/${cssOf.replace(`${out}/`, "")}`);
};
walkImports(`${out}/${app}`);

let total = 0;
console.log("web/dist (gzipped):");
for (const f of files.concat(["/sw.js"]).filter((f, i, a) => a.indexOf(f) === i).sort()) {
  const gz = gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
  if (firstLoad.has(f)) total += gz;
  console.log(`  ${f.padEnd(40)} ${String(gz).padStart(8)} B${firstLoad.has(f) ? "  (first load)" : ""}`);
}
const precached = precache.filter((f) => f !== "/" && !firstLoad.has(f));
const later = precached.reduce((n, f) => n + gzipSync(readFileSync(join(out, f)), { level: 9 }).length, 0);
console.log(`  the first screen needs ${total} B gzipped; the service worker then keeps ${later} B more for offline use`);
console.log("  (the chunks loaded on demand, the icons); the decoder's wasm is fetched only where it is used");

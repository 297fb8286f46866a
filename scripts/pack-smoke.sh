#!/usr/bin/env bash
# Packs rankwise (`npm pack`, whose prepack builds dist/), installs the tarball into a fresh
# temporary project and imports it there under Node, Bun and Deno; typechecks a TypeScript
# consumer against the shipped .d.ts; runs the installed `rankwise` bin. Cleans up after itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUN="$ROOT/node_modules/.bin/bun"
DENO="$ROOT/node_modules/.bin/deno"
TSC="$ROOT/node_modules/.bin/tsc"
export ONNXRUNTIME_NODE_INSTALL=skip

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rankwise-pack.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step() { echo "-- $*"; }

VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"

step "npm pack (prepack runs the build)"
(cd "$ROOT" && npm pack --pack-destination "$WORK" --loglevel=warn >/dev/null)
TARBALL="$(ls "$WORK"/rankwise-*.tgz)"
echo "   $(basename "$TARBALL") ($(du -k "$TARBALL" | cut -f1) KiB)"

step "tarball contents"
tar -tzf "$TARBALL" > "$WORK/contents.txt"
for f in package/package.json package/bin/rankwise.mjs package/dist/index.js package/dist/index.d.ts \
         package/dist/cli/main.js package/index.ts package/core/errors.ts; do
  grep -qx "$f" "$WORK/contents.txt" || { echo "missing from tarball: $f"; exit 1; }
done
if grep -E '^package/(test|bench|node_modules)/' "$WORK/contents.txt"; then echo "tarball ships test/bench/node_modules"; exit 1; fi

APP="$WORK/app"
mkdir -p "$APP"
cat > "$APP/package.json" <<'JSON'
{ "name": "rankwise-pack-smoke", "private": true, "type": "module" }
JSON

step "npm install the tarball into a fresh project (onnxruntime-node's CUDA download skipped)"
# Optional dependencies stay: rankwise/backends/onnx imports onnxruntime-node.
(cd "$APP" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --prefer-offline \
  --onnxruntime-node-install=skip --loglevel=error "$TARBALL")

cat > "$APP/smoke.mjs" <<'JS'
const runtime = typeof Bun !== "undefined" ? "bun" : typeof Deno !== "undefined" ? "deno" : "node"
const m = await import("rankwise")
const names = ["decodeRequest", "CollectiveRpcError", "RankDivergence", "Worker", "RankTransport",
  "agree", "all", "and", "sum", "fromRank", "WorkerCall", "dispatch", "workerMethods", "InvalidRequest"]
const missing = names.filter((n) => m[n] === undefined)
if (missing.length > 0) {
  console.error(`${runtime}: missing exports: ${missing.join(", ")}`)
  process.exit(1)
}
if (m.agree().name !== "agree") { console.error(`${runtime}: agree() is not the agree aggregator`); process.exit(1) }
const resolved = import.meta.resolve("rankwise")
// Bun takes the "bun" condition (TypeScript sources); Node and Deno take dist/.
const want = runtime === "bun" ? "/rankwise/index.ts" : "/rankwise/dist/index.js"
if (!resolved.endsWith(want)) { console.error(`${runtime}: resolved ${resolved}, expected …${want}`); process.exit(1) }
console.log(`   ${runtime}: ${Object.keys(m).length} exports ok, from ${resolved.replace(/^.*node_modules\//, "")}`)
// Every other subpath the package declares (./simulator, later ./conformance, ./backends/onnx, ...)
// must import and export something.
const { createRequire } = await import("node:module")
const pkg = createRequire(import.meta.url)("rankwise/package.json")
for (const sub of Object.keys(pkg.exports).filter((k) => k !== "." && !k.endsWith(".json"))) {
  const spec = "rankwise" + sub.slice(1)
  const mod = await import(spec)
  if (Object.keys(mod).length === 0) { console.error(`${runtime}: ${spec} exports nothing`); process.exit(1) }
  console.log(`   ${runtime}: ${spec}: ${Object.keys(mod).length} exports ok, from ${import.meta.resolve(spec).replace(/^.*node_modules\//, "")}`)
}
JS

cat > "$APP/consumer.ts" <<'TS'
import { agree, decodeRequest, CollectiveRpcError, Worker, RankTransport, type Aggregator } from "rankwise"
const a: Aggregator<number, number> = agree<number>()
export const used = [a, decodeRequest, CollectiveRpcError, Worker, RankTransport]
TS
cat > "$APP/tsconfig.json" <<'JSON'
{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
  "strict": true, "skipLibCheck": true, "noEmit": true, "types": [] }, "files": ["consumer.ts"] }
JSON

cd "$APP"
step "import under node";  node smoke.mjs
step "import under bun";   "$BUN" run smoke.mjs
step "import under deno";  "$DENO" run -A smoke.mjs
step "typecheck a TypeScript consumer against dist/index.d.ts"
"$TSC" -p tsconfig.json && echo "   tsc ok"

step "installed bin: npx rankwise --version"
out="$(npx --no-install rankwise --version)"
[ "$out" = "rankwise $VERSION" ] || { echo "npx rankwise --version printed '$out', expected 'rankwise $VERSION'"; exit 1; }
echo "   node: $out"
out="$("$BUN" node_modules/.bin/rankwise --version)"
[ "$out" = "rankwise $VERSION" ] || { echo "bun bin printed '$out'"; exit 1; }
echo "   bun:  $out"
out="$("$DENO" run -A node_modules/rankwise/bin/rankwise.mjs --version)"
[ "$out" = "rankwise $VERSION" ] || { echo "deno bin printed '$out'"; exit 1; }
echo "   deno: $out"
set +e; npx --no-install rankwise no-such-command 2>/dev/null; code=$?; set -e
[ "$code" -eq 2 ] || { echo "unknown command exited $code, expected 2"; exit 1; }
echo "   unknown command exits 2"

echo "pack smoke: ok"

#!/usr/bin/env bash
# Builds the browser engine and the static site.
#   js/pkg/   wasm-bindgen output (hearth.js + hearth_bg.wasm, optimized by wasm-opt -O3):
#             the wasm half of the npm package in js/
#   dist/     the chat and bench pages, ready for any static server: www/ + js/ (as dist/js/)
#             + vendored marked and DOMPurify (dist/vendor/) + the package's dependency
#             eventsource-parser (dist/vendor/, imported by dist/js/remote.js through a
#             relative path, since a page without a bundler cannot resolve a package name)
#             + a link to models/
#             + the licences: hearth's (LICENSE) and each vendored library's, next to it
#             (dist/vendor/NAME.LICENSE)
# Both folders are git-ignored. Tools come from scripts/install-web-tools.sh.
#   scripts/build-web.sh [--reuse-wasm]
#     --reuse-wasm  keep the existing js/pkg (no cargo build): for changes to www/ and js/ only
set -euo pipefail
cd "$(dirname "$0")/.."

build_wasm=1
while [ $# -gt 0 ]; do
    case "$1" in
        --reuse-wasm) build_wasm=0 ;;
        *) echo "usage: $0 [--reuse-wasm]" >&2; exit 2 ;;
    esac
    shift
done

for tool in wasm-bindgen node; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found; run scripts/install-web-tools.sh" >&2; exit 1; }
done
# npm's binaryen, never Debian's /usr/bin/wasm-opt (v108 breaks wasm-bindgen output).
wasm_opt=js/node_modules/.bin/wasm-opt
vendor_marked=www/node_modules/marked/lib/marked.esm.js
vendor_purify=www/node_modules/dompurify/dist/purify.es.mjs
vendor_sse=js/node_modules/eventsource-parser/dist/index.js
vendor_hljs=www/node_modules/@highlightjs/cdn-assets
for file in "$wasm_opt" "$vendor_marked" "$vendor_purify" "$vendor_sse" "$vendor_hljs/es/highlight.min.js"; do
    [ -e "$file" ] || { echo "error: $file is missing; run scripts/install-web-tools.sh" >&2; exit 1; }
done

if [ "$build_wasm" = 1 ]; then
    cargo build --release --target wasm32-unknown-unknown --lib

    rm -rf js/pkg
    wasm-bindgen --target web --no-typescript --out-dir js/pkg --out-name hearth \
        "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/hearth.wasm"
    "$wasm_opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd \
        js/pkg/hearth_bg.wasm -o js/pkg/hearth_bg.wasm.opt
    mv js/pkg/hearth_bg.wasm.opt js/pkg/hearth_bg.wasm
fi
[ -f js/pkg/hearth_bg.wasm ] || { echo "error: js/pkg is not built: run $0 without --reuse-wasm" >&2; exit 1; }

# npm packs js/ and cannot reach files outside it: the package carries a copy of the
# licence (git-ignored there; LICENSE at the root is the one to edit).
cp LICENSE js/LICENSE

rm -rf dist
mkdir -p dist/js/pkg dist/vendor
for file in www/*; do
    case "$(basename "$file")" in
        node_modules | package.json | package-lock.json) ;;
        *) cp -R "$file" dist/ ;;
    esac
done
cp js/*.js js/index.d.ts js/package.json dist/js/
cp js/pkg/hearth.js js/pkg/hearth_bg.wasm dist/js/pkg/
cp LICENSE dist/LICENSE
cp "$vendor_marked" dist/vendor/marked.esm.js
cp "$vendor_purify" dist/vendor/purify.es.mjs
cp www/node_modules/marked/LICENSE dist/vendor/marked.LICENSE
cp www/node_modules/dompurify/LICENSE dist/vendor/dompurify.LICENSE
# highlight.js with its common languages (one ES module) and two of its themes.
cp "$vendor_hljs/es/highlight.min.js" dist/vendor/highlight.min.js
cp "$vendor_hljs/styles/github.min.css" dist/vendor/highlight-github.min.css
cp "$vendor_hljs/styles/github-dark.min.css" dist/vendor/highlight-github-dark.min.css
cp "$vendor_hljs/LICENSE" dist/vendor/highlight.js.LICENSE
# The source map it names is not shipped.
sed '/^\/\/# sourceMappingURL=/d' "$vendor_sse" >dist/vendor/eventsource-parser.js
cp js/node_modules/eventsource-parser/LICENSE dist/vendor/eventsource-parser.LICENSE
sed -i 's#^import { createParser } from "eventsource-parser";$#import { createParser } from "../vendor/eventsource-parser.js";#' dist/js/remote.js
if grep -q 'from "eventsource-parser"' dist/js/remote.js || ! grep -q 'from "../vendor/eventsource-parser.js"' dist/js/remote.js; then
    echo "error: dist/js/remote.js still imports eventsource-parser by its package name" >&2
    exit 1
fi
ln -s ../models dist/models

size=$(stat -c %s js/pkg/hearth_bg.wasm)
echo "built js/pkg/hearth_bg.wasm ($((size / 1024)) KiB) and dist/ (serve it: node scripts/serve.mjs)"

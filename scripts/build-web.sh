#!/usr/bin/env bash
# Builds the browser engine and the static site.
#   js/pkg/   wasm-bindgen output (hearth.js + hearth_bg.wasm, optimized by wasm-opt -O3):
#             the wasm half of the npm package in js/
#   js/pkg-threads/  the same engine built with wasm threads (nightly): the CPU backend
#             over a worker pool, loaded by cross-origin isolated pages
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

# The threaded build needs wasm atomics, which only a nightly compiler builds (std itself is
# rebuilt with them); a fixed nightly, so that a new one cannot break the build unseen.
# scripts/install-web-tools.sh installs it.
threads_toolchain=nightly-2026-05-20

# wasm-bindgen's glue for a built module into js/$2, optimized by wasm-opt -O3 with the
# features the build enabled ($3...).
bind() {
    local wasm=$1 out=js/$2
    shift 2
    rm -rf "$out"
    wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name hearth "$wasm"
    "$wasm_opt" -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd "$@" \
        "$out/hearth_bg.wasm" -o "$out/hearth_bg.wasm.opt"
    mv "$out/hearth_bg.wasm.opt" "$out/hearth_bg.wasm"
}

if [ "$build_wasm" = 1 ]; then
    target_dir=${CARGO_TARGET_DIR:-target}

    # js/pkg: one thread, for every browser (and every page, isolated or not).
    cargo build --release --target wasm32-unknown-unknown --lib
    bind "$target_dir/wasm32-unknown-unknown/release/hearth.wasm" pkg

    # js/pkg-threads: the CPU backend over a pool of Web Workers sharing the module's memory,
    # for cross-origin isolated pages (SharedArrayBuffer). Atomics make the memory shared
    # and imported; the linker arguments are the ones a threaded module needs (shared,
    # imported memory that may grow to wasm32's 4 GiB; the thread-local storage setup
    # that each worker runs). Its own target folder: other flags, other artifacts.
    rustup run "$threads_toolchain" true 2>/dev/null || {
        echo "error: the $threads_toolchain toolchain is missing; run scripts/install-web-tools.sh" >&2
        exit 1
    }
    link_args=""
    for arg in --shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls \
        --export=__tls_size --export=__tls_align --export=__tls_base; do
        link_args+=" -C link-arg=$arg"
    done
    RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+simd128$link_args" \
        cargo "+$threads_toolchain" build --release --target wasm32-unknown-unknown --lib \
        --target-dir "$target_dir/wasm-threads" -Z build-std=panic_abort,std
    bind "$target_dir/wasm-threads/wasm32-unknown-unknown/release/hearth.wasm" pkg-threads --enable-threads
    # The pool's worker script finds the module through '../../..' (a folder, which only
    # bundlers resolve); name the file, which browsers and bundlers both load.
    helpers=(js/pkg-threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js)
    [ -f "${helpers[0]}" ] || { echo "error: wasm-bindgen-rayon's worker script is missing from js/pkg-threads" >&2; exit 1; }
    sed -i "s#import('../../..')#import('../../../hearth.js')#" "${helpers[0]}"
    grep -q "import('../../../hearth.js')" "${helpers[0]}" || {
        echo "error: ${helpers[0]} no longer imports the module as expected; check wasm-bindgen-rayon" >&2
        exit 1
    }
fi
for pkg in pkg pkg-threads; do
    [ -f js/$pkg/hearth_bg.wasm ] || { echo "error: js/$pkg is not built: run $0 without --reuse-wasm" >&2; exit 1; }
done

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
cp -R js/pkg-threads dist/js/pkg-threads
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

# The service worker keeps the thread pool's worker script too; its folder name has a hash.
pool_scripts=(js/pkg-threads/snippets/*/src/workerHelpers.js)
[ -f "${pool_scripts[0]}" ] || { echo "error: js/pkg-threads has no thread pool script" >&2; exit 1; }
sed -i "s#^  // scripts/build-web.sh.\$#&\n  \"${pool_scripts[0]}\",#" dist/sw.js
grep -q "^  \"${pool_scripts[0]}\",\$" dist/sw.js || { echo "error: could not list the pool script in dist/sw.js" >&2; exit 1; }

size=$(stat -c %s js/pkg/hearth_bg.wasm)
threads_size=$(stat -c %s js/pkg-threads/hearth_bg.wasm)
echo "built js/pkg/hearth_bg.wasm ($((size / 1024)) KiB), js/pkg-threads/hearth_bg.wasm" \
    "($((threads_size / 1024)) KiB) and dist/ (serve it: node scripts/serve.mjs)"

#!/usr/bin/env bash
# Writes the static chat site: a folder that any static host can serve as it is (relative
# URLs only, no server code). It holds the pages, the npm package's modules and the wasm
# engine (from scripts/build-web.sh), the catalogue, the service worker that keeps the app
# shell for offline use, and the catalogue's bundled model under models/.
#   scripts/build-site.sh [--no-build] [--out DIR]
#     --no-build  assemble from the existing dist/ instead of running scripts/build-web.sh
#     --out DIR   where to write the site (default: target/site; replaced if present)
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/site
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --out) out="${2:?--out needs a folder}"; shift ;;
        *) echo "usage: $0 [--no-build] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    scripts/build-web.sh
fi
[ -f dist/js/pkg/hearth_bg.wasm ] || { echo "error: dist/ is not built: run make web" >&2; exit 1; }

# The bundled model is the catalogue's first URL; its digest is checked before shipping it.
read -r model_path model_sha < <(node -e '
    const catalogue = JSON.parse(require("fs").readFileSync("www/catalogue.json", "utf8"));
    const model = catalogue.models.find((entry) => entry.id === catalogue.default);
    if (!model || !model.sha256) throw new Error("catalogue.json: the default model needs a sha256");
    console.log(model.urls[0], model.sha256);')
case "$model_path" in
    models/*) ;;
    *) echo "error: the default model's first URL must be under models/ (got $model_path)" >&2; exit 1 ;;
esac
[ -f "$model_path" ] || { echo "error: $model_path is missing: run scripts/fetch-models.sh" >&2; exit 1; }
echo "$model_sha  $model_path" | sha256sum --check --quiet

rm -rf "$out"
mkdir -p "$out"
# dist/models is a link to the repository's models/ (for development): ship one real file.
cp -R dist/. "$out"/
rm -f "$out/models"
mkdir -p "$out/$(dirname "$model_path")"
cp "$model_path" "$out/$model_path"

# A new version name makes the service worker replace the shell it cached before.
version=$(cd "$out" && find . -type f ! -path ./sw.js ! -path './models/*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16)
sed -i "s/^const VERSION = \"dev\";\$/const VERSION = \"$version\";/" "$out/sw.js"
grep -q "^const VERSION = \"$version\";\$" "$out/sw.js" || { echo "error: could not stamp $out/sw.js" >&2; exit 1; }

echo "wrote $out ($(du -sh "$out" | cut -f1)): serve it from any static host, e.g. node scripts/serve.mjs --root $out"

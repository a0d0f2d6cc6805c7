#!/usr/bin/env bash
# Installs what `make web` and `make e2e` need, skipping whatever is already in place:
#   - the wasm32 Rust target,
#   - the fixed nightly toolchain (with rust-src) of the threaded wasm build,
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock (the CLI and the
#     crate must match, or the generated glue does not fit the wasm),
#   - npm packages: binaryen (wasm-opt; Debian's /usr/bin/wasm-opt v108 breaks wasm-bindgen
#     output, so it is never used), marked + dompurify (vendored into the built page),
#     playwright-core (drives Debian's Chromium; it never downloads a browser), Vite for
#     tests/consumer (the package test installs it again, next to the packed tarball, from
#     npm's cache).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
    echo "error: cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
    exit 1
}
if ! command -v npm >/dev/null; then
    echo "installing: nodejs npm"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
# Named once, in the build script that uses it.
threads_toolchain=$(sed -n 's/^threads_toolchain=//p' scripts/build-web.sh)
if ! rustup run "$threads_toolchain" true 2>/dev/null ||
    ! rustup component list --installed --toolchain "$threads_toolchain" | grep -q '^rust-src'; then
    rustup toolchain install "$threads_toolchain" --profile minimal --component rust-src
fi

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$want" ]; then
    echo "error: no wasm-bindgen entry in Cargo.lock; run 'cargo generate-lockfile' first" >&2
    exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "installing wasm-bindgen-cli $want (found: ${have:-none}); this takes several minutes"
    # No --locked: a version pinned in the CLI's own lockfile is missing from the index.
    cargo install wasm-bindgen-cli --version "$want"
fi

# `npm install` rather than `npm ci`: it follows the lockfiles, leaves an up-to-date
# node_modules alone (repeated runs skip it), and tolerates optional platform packages
# that a lockfile written on another platform leaves out.
for dir in js www tests/e2e tests/consumer; do
    npm install --prefix "$dir" --no-audit --no-fund --prefer-offline
done

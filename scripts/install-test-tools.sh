#!/usr/bin/env bash
# Installs what the tests need beyond the web tools, skipping what is present: Debian's
# CPU Vulkan driver (lavapipe: the native tests run the GPU kernels on it) and Chromium
# (the browser tests drive it through playwright-core). Uses sudo when not root.
set -euo pipefail

need_apt=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Installs llama.cpp's OpenAI-compatible server (llama-cpp-python[server], CPU build) into
# .venv-remote/ (git-ignored) for the remote-backend browser tests (`make test-remote`,
# tests/e2e/remote/). PyPI carries llama-cpp-python as source only: pip compiles llama.cpp
# (about 4 minutes on 2 cores). Skips everything when the venv already has this version.
#   scripts/setup-remote.sh            prints the venv's python on its last line
# The tests then run: .venv-remote/bin/python -m llama_cpp.server --model ... --port ...
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.3.36
venv=.venv-remote
python=$venv/bin/python

installed() {
    [ -x "$python" ] &&
        "$python" - "$VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import llama_cpp.server.app  # the server's own imports (fastapi, uvicorn, pydantic-settings)
sys.exit(0 if version("llama_cpp_python") == sys.argv[1] else 1)
EOF
}

if installed; then
    echo "llama-cpp-python $VERSION is installed in $venv"
    echo "$python"
    exit 0
fi

command -v g++ >/dev/null || { echo "error: no C++ compiler to build llama.cpp: apt-get install -y g++" >&2; exit 1; }
if [ ! -x "$python" ]; then
    python3 -m venv "$venv" || { echo "error: python3 -m venv failed: apt-get install -y python3-venv" >&2; exit 1; }
fi
"$python" -m pip install --quiet --upgrade pip
echo "compiling llama-cpp-python $VERSION (llama.cpp for the CPU); this takes a few minutes"
started=$(date +%s)
# GGML_NATIVE=OFF: portable code, not tuned to this CPU (the venv may move to another
# machine of the same kind). LLAVA_BUILD=OFF: no multimodal library (the server imports it
# only for vision models).
CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
    "$python" -m pip install --no-cache-dir "llama-cpp-python[server]==$VERSION"
installed || { echo "error: llama-cpp-python $VERSION did not install into $venv" >&2; exit 1; }
echo "installed llama-cpp-python $VERSION in $(( $(date +%s) - started )) s"
echo "$python"

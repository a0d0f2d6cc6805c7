#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for a while and fails if any of them crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Installs cargo-fuzz and the nightly toolchain when they are missing, cuts seed inputs
# from the models (scripts/fuzz-seeds.py → fuzz/corpus/<target>/, with the committed ones
# in fuzz/seeds/<target>/), then runs each target under libFuzzer with a memory limit, a
# per-input timeout and a size limit suited to it. A crash, timeout or out-of-memory input
# is saved to fuzz/artifacts/<target>/; replay it with
#   cargo +nightly fuzz run --debug-assertions <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${FUZZ_SECONDS:-60}}
shift || true

# Largest input per target: room for the seeds (a one-layer model, a small vocabulary)
# while keeping mutations fast.
declare -A max_len=(
  [gguf_chunks]=524288
  [safetensors_chunks]=65536
  [hf_json]=65536
  [gguf_tokenizer]=262144
  [chat_template]=16384
)
declare -A dict=(
  [gguf_chunks]=gguf.dict
  [safetensors_chunks]=json.dict
  [hf_json]=json.dict
  [gguf_tokenizer]=gguf.dict
  [chat_template]=jinja.dict
)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(gguf_chunks safetensors_chunks hf_json gguf_tokenizer chat_template)
fi
# The models the seeds are cut from (`make models` fetches them); Gemma, when present,
# adds a real SentencePiece vocabulary.
models=(models/SmolLM2-135M-Instruct.Q4_1.gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf)
for model in "${models[@]}"; do
  [ -e "$model" ] || { echo "$model is missing: run make models" >&2; exit 1; }
done
[ -e models/gemma-3-270m-q4_k_m.gguf ] && models+=(models/gemma-3-270m-q4_k_m.gguf)

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

seed_args=()
for target in "${!max_len[@]}"; do
  seed_args+=(--max-len "$target=${max_len[$target]}")
done
python3 scripts/fuzz-seeds.py fuzz/corpus "${models[@]}" "${seed_args[@]}"

# Debug assertions: integer overflow in a parser is a crash, not a wrapped size.
fuzz_flags=(--debug-assertions)
# One target at a time: the sanitized binaries are large, and linking them two at a time
# doubles the peak memory and scratch disk of the build.
for target in "${targets[@]}"; do
  cargo +nightly fuzz build "${fuzz_flags[@]}" "$target"
done

failed=()
summary=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  # New inputs go to the first corpus directory; the committed seeds are only read.
  corpora=("fuzz/corpus/$target")
  [ -d "fuzz/seeds/$target" ] && corpora+=("fuzz/seeds/$target")
  log="fuzz/artifacts/$target/last-run.log"
  echo "== $target: ${seconds} s"
  status=0
  cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" "${corpora[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len="${max_len[$target]}" -dict="fuzz/dicts/${dict[$target]}" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -n 1 || true)
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    summary+=("$target: FAILED (exit $status; input and log in fuzz/artifacts/$target/)")
    grep -E -A 20 'ERROR: libFuzzer|panicked at|fuzz heap budget|SUMMARY' "$log" | head -n 60 || true
  else
    summary+=("$target: ${runs:-no run count found (see $log)}")
  fi
done

echo "== fuzz summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]}"
  exit 1
fi

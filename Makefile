# hearth — the README's commands.
SHELL := /bin/bash
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: test test-native test-wasm e2e web demo bench models test-models test-remote lint package site fuzz \
	web-tools test-tools soak

## Everything CI runs: native tests on the GPU-less Vulkan driver, the wasm build, browser tests.
## On a fresh machine it first installs what it needs (see web-tools and test-tools).
test: test-tools models test-native test-wasm web e2e

## What building the browser engine needs, installed where missing (fast when present): the
## wasm32 target, wasm-bindgen-cli at Cargo.lock's version, the npm packages.
web-tools:
	scripts/install-web-tools.sh

## What the tests need on top: Debian's CPU Vulkan driver and Chromium (apt, sudo if not root).
test-tools: web-tools
	scripts/install-test-tools.sh

models:
	scripts/fetch-models.sh smollm2 qwen2.5-coder gemma3-270m llama-cpp-models

test-native: test-tools models
	HEARTH_REQUIRE_GPU=1 cargo test

## Beyond CI (over half an hour on 2 cores): fetch every real model (cached outside the checkout),
## check SmolLM2's (GPU kernels), Qwen2.5 0.5B's and Gemma 3's perplexity against llama.cpp's
## over the whole GPL-3, load the 1.5B model in the browser and
## check both test models' fixtures on the CPU backend in a browser without WebGPU, and
## natively every case of the fixtures that `make test` checks the first case of.
test-models: test-tools web
	scripts/fetch-models.sh all
	HEARTH_REQUIRE_GPU=1 HEARTH_ALL_FIXTURE_CASES=1 cargo test --test greedy_fixtures \
		--test cpu_backend --test convert
	cargo build --release --bin hearth
	scripts/check-perplexity.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
		tests/fixtures/smollm2-135m-q4_1.json 0.0005 --backend gpu
	scripts/check-perplexity.py models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
		tests/fixtures/qwen2.5-coder-0.5b-instruct-q4_k_m.json 0.001
	scripts/check-perplexity.py models/gemma-3-270m-q4_k_m.gguf \
		tests/fixtures/gemma-3-270m-q4_k_m.json 0.001
	node tests/e2e/run.mjs --models

## Beyond CI: the remote backend (Engine.connect, Engine.load's fallback) against llama.cpp's
## server: llama-cpp-python is compiled into .venv-remote/ on the first run (a few minutes).
test-remote: test-tools web models
	scripts/setup-remote.sh
	node tests/e2e/run.mjs --remote

test-wasm: web-tools
	cargo build --release --target wasm32-unknown-unknown --lib

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

## Beyond CI's test target: every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (nightly,
## libFuzzer; seeds cut from the models); crashes are saved to fuzz/artifacts/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: models
	scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## Build the wasm engine and the JS package into pkg/ (git-ignored).
web: web-tools
	scripts/build-web.sh

e2e: test-tools web models
	node tests/e2e/run.mjs

## Build everything, fetch the default model, serve the chat page on http://localhost:8080.
demo: web models
	node scripts/serve.mjs --port 8080

bench: models
	cargo run --release --bin hearth -- bench models/SmolLM2-135M-Instruct.Q4_1.gguf

## Beyond CI: 1,000 chat turns natively on lavapipe and 200 in the browser (random lengths,
## aborts, context overflows), checking that GPU buffers and process, wasm and JS memory
## stay flat (40 minutes or more on 2 cores). CI runs the native test with 24 turns.
soak: test-tools web models
	HEARTH_REQUIRE_GPU=1 HEARTH_SOAK_TURNS=1000 cargo test --test soak -- --nocapture
	node tests/e2e/run.mjs --soak

## The npm package (js/ with the built wasm) as a tarball: target/package/hearth-llm-<version>.tgz.
package: web
	mkdir -p target/package
	cd js && npm pack --pack-destination ../target/package

## The static chat site in target/site/: deploy it to any static host; it works offline
## after one visit.
site: web models
	scripts/build-site.sh --no-build

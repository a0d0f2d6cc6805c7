#!/usr/bin/env python3
"""Runs `hearth perplexity` on a model with its llama.cpp fixture's protocol and fails when
the result is further than a relative tolerance from the fixture's figure.

Usage: scripts/check-perplexity.py MODEL FIXTURE_JSON TOLERANCE [HEARTH_ARG...]
  TOLERANCE: e.g. 0.001 for 0.1%; HEARTH_ARG: more arguments for `hearth perplexity`
  (e.g. --backend gpu)."""
import json
import subprocess
import sys

model, fixture_path, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
extra = sys.argv[4:]
fixture = json.load(open(fixture_path))["perplexity"]
out = subprocess.run(
    ["target/release/hearth", "perplexity", model, "--file", fixture["file"], "--ctx", str(fixture["ctx"]), *extra],
    check=True, capture_output=True, text=True,
).stdout
ppl = float(out.strip().splitlines()[-1].removeprefix("ppl: "))
gap = abs(ppl - fixture["ppl"]) / fixture["ppl"]
print(f"{model} {' '.join(extra)}: ppl {ppl:.4f}, llama.cpp {fixture['ppl']:.4f}, {100 * gap:.3f}% apart (limit {100 * tolerance}%)")
sys.exit(0 if gap <= tolerance else 1)

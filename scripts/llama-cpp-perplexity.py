#!/usr/bin/env python3
"""llama.cpp's perplexity of a GGUF model by the fixtures' protocol, for models without a
fixture (e.g. Qwen2.5-Coder-1.5B): the model is first dequantized to F32 by llama.cpp (exact
weights) and run with an f32 KV cache (f32 activations). Needs llama-cpp-python 0.3.36 (CPU),
as `make test-remote` builds it into .venv-remote/.

Usage: scripts/llama-cpp-perplexity.py MODEL.gguf [TEXT_FILE] [CTX]
Prints `ppl: X`; compare with `hearth perplexity MODEL --file TEXT_FILE --ctx CTX`.

Protocol: tokenize the whole file (no BOS, special tokens not parsed); consecutive windows of
CTX tokens, the remainder dropped; each window from an empty cache (its first token replaced
by BOS when the model adds BOS); every token after the first scored by its negative
log-likelihood under the full softmax; ppl = exp(mean NLL)."""

import math
import os
import sys
import tempfile

import numpy as np
import llama_cpp

model = sys.argv[1]
text_file = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/common-licenses/GPL-3"
ctx = int(sys.argv[3]) if len(sys.argv) > 3 else 512

with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
    f32 = os.path.join(tmp, "model-f32.gguf")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    if llama_cpp.llama_model_quantize(model.encode(), f32.encode(), params) != 0:
        sys.exit(f"llama.cpp could not dequantize {model}")
    llm = llama_cpp.Llama(model_path=f32, n_ctx=ctx, n_batch=ctx, logits_all=True,
                          n_threads=int(os.environ.get("THREADS", os.cpu_count())), verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    tokens = llm.tokenize(open(text_file, "rb").read(), add_bos=False, special=False)
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token") == "true"
    windows = len(tokens) // ctx
    nll, scored = 0.0, 0
    for w in range(windows):
        window = tokens[w * ctx:(w + 1) * ctx]
        if add_bos:
            window[0] = llm.token_bos()
        llm.reset()
        llm.eval(window)
        logits = np.array(llm.scores[:ctx], dtype=np.float64)
        for i in range(ctx - 1):
            row = logits[i]
            m = row.max()
            nll += math.log(np.exp(row - m).sum()) + m - row[window[i + 1]]
            scored += 1
        print(f"window {w + 1}/{windows}: running ppl {math.exp(nll / scored):.4f}", file=sys.stderr)
    print(f"tokens: {len(tokens)}, windows: {windows}, scored: {scored}")
    print(f"ppl: {math.exp(nll / scored):.4f}")

#!/usr/bin/env python3
"""Small random-weight models of the families no registry here carries, and llama.cpp's
outputs for them.

For each family this writes tests/fixtures/synthetic/<family>/:
  model.gguf      the model as llama.cpp's converter would write it (F16 tensors, Q/K rows
                  permuted where the architecture's GGUF files are), tokenizer included
  hf/             the same model as a Hugging Face folder (config.json, model.safetensors in
                  F16, tokenizer.json, tokenizer_config.json)
  reference.json  what llama.cpp computes: tokenizations of a few texts, the last-token
                  logits of a few prompts, and greedy continuations with top-2 margins

Every weight is a float16 value, so the F32 file llama.cpp runs (written to a temporary
folder; F32 keeps its activations in f32) and the F16 files hearth loads hold the same
numbers. Needs numpy, the `gguf` package and llama-cpp-python 0.3.36 (CPU build):
  python3 scripts/synthetic-models.py [family ...]
"""

import json
import os
import re
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import gguf
import llama_cpp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "synthetic"

# The pre-tokenizer regexes of the Hugging Face tokenizers these vocabularies imitate
# (Qwen2's and Llama 3's tokenizer.json); llama.cpp knows them as "qwen2" and "llama-bpe".
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The text the merges are learnt from, and the texts whose tokenization is compared.
CORPUS = (
    "The quick brown fox jumps over the lazy dog. The capital of France is Paris. "
    "This program is free software: you can redistribute it and/or modify it under the "
    "terms of the license. In the beginning the model reads the prompt, then it writes "
    "the answer one token at a time, and the answer is the same on every machine. "
) * 4
TEXTS = [
    "The capital of France is Paris.",
    "Hello world! 12345 tokens, then\n\nnew lines\tand tabs.",
    "the the the model model answer",
    " leading space and 'quotes' don't matter",
]

N_MERGES = 120
# The blocks' outputs outweigh the token's own embedding in the residual stream, so that a
# tied head does not just predict the input token again.
OUT_SCALE = 3.0
CONTEXT = 256
GREEDY_TOKENS = 40

FAMILIES = {
    "qwen3": dict(
        arch="qwen3",
        hf_class="Qwen3ForCausalLM",
        model_type="qwen3",
        n_embd=128,
        n_layer=2,
        n_head=4,
        n_head_kv=2,
        head_dim=128,
        n_ff=384,
        rope_theta=1000000.0,
        eps=1e-6,
        tied=True,
        qk_norm=True,
        permute_qk=False,
        pre="qwen2",
        split=QWEN2_SPLIT,
        add_bos=False,
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        bos="<|endoftext|>",
        eos="<|im_end|>",
        template="Qwen-Qwen3-0.6B.jinja",
        # YaRN as Qwen's long-context configs have it (a small original context, so that
        # the blend between interpolated and original frequencies falls inside the head).
        yarn=dict(factor=4.0, original_max_position_embeddings=64),
        seed=3,
    ),
    "llama3": dict(
        arch="llama",
        hf_class="LlamaForCausalLM",
        model_type="llama",
        n_embd=256,
        n_layer=2,
        n_head=4,
        n_head_kv=1,
        head_dim=64,
        n_ff=256,
        rope_theta=500000.0,
        eps=1e-5,
        tied=False,
        qk_norm=False,
        permute_qk=True,
        pre="llama-bpe",
        split=LLAMA3_SPLIT,
        add_bos=True,
        specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>"],
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        template="meta-llama-Llama-3.2-3B-Instruct.jinja",
        # Llama 3.2's rope scaling: config.json's parameters, rope_freqs.weight in GGUF.
        llama3_rope=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                         original_max_position_embeddings=8192),
        seed=5,
    ),
    # Gemma 3's layout with a window of 8 on every other layer, so that the 60-token prompts
    # cross it; head_dim 256 as in the real models.
    "gemma3": dict(
        arch="gemma3",
        hf_class="Gemma3ForCausalLM",
        model_type="gemma3_text",
        n_embd=128,
        n_layer=4,
        n_head=2,
        n_head_kv=1,
        head_dim=256,
        n_ff=256,
        rope_theta=1000000.0,
        rope_theta_local=10000.0,
        sliding_window=8,
        global_every=2,
        eps=1e-6,
        tied=True,
        qk_norm=True,
        gemma=True,
        permute_qk=False,
        pre="llama-bpe",
        split=LLAMA3_SPLIT,
        add_bos=True,
        specials=["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"],
        bos="<bos>",
        eos="<eos>",
        template="google-gemma-2-2b-it.jinja",
        seed=7,
    ),
    # Phi-3's fused Q|K|V and gate|up tensors, head_dim 96 (3072 / 32 as in Phi-3-mini)
    # and LongRoPE: the 256-token context exceeds the original 64, so the long factors
    # apply, with cos and sin scaled by sqrt(1 + ln 4 / ln 64).
    "phi3": dict(
        arch="phi3",
        hf_class="Phi3ForCausalLM",
        model_type="phi3",
        n_embd=192,
        n_layer=2,
        n_head=2,
        n_head_kv=1,
        head_dim=96,
        n_ff=256,
        rope_theta=10000.0,
        eps=1e-5,
        tied=False,
        qk_norm=False,
        fused=True,
        permute_qk=False,
        pre="llama-bpe",
        split=LLAMA3_SPLIT,
        add_bos=False,
        # Phi-3's vocabulary has SentencePiece's three (llama.cpp looks them up by name).
        specials=["<unk>", "<s>", "</s>", "<|endoftext|>", "<|system|>", "<|user|>",
                  "<|assistant|>", "<|end|>"],
        # As Phi-3's tokenizer.json: special tokens take the whitespace after them.
        rstrip_specials=True,
        bos="<|endoftext|>",
        eos="<|end|>",
        template="microsoft-Phi-3.5-mini-instruct.jinja",
        longrope=dict(original_max_position_embeddings=64, sliding_window=CONTEXT - 1),
        seed=11,
    ),
    # GPT-2's layout: learned positions, LayerNorms and biases everywhere, an ungated GELU
    # FFN of 4 × n_embd, Q|K|V fused, the Hugging Face matrices stored [in, out] (Conv1D).
    "gpt2": dict(
        arch="gpt2",
        hf_class="GPT2LMHeadModel",
        model_type="gpt2",
        n_embd=128,
        n_layer=2,
        n_head=2,
        n_head_kv=2,
        head_dim=64,
        n_ff=512,
        rope_theta=10000.0,  # unused: GPT-2 has no rope
        eps=1e-5,
        tied=True,
        qk_norm=False,
        gpt2=True,
        permute_qk=False,
        pre="gpt-2",
        split=GPT2_SPLIT,
        add_bos=False,
        specials=["<|endoftext|>"],
        bos="<|endoftext|>",
        eos="<|endoftext|>",
        template=None,
        seed=13,
    ),
}



def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters (as in byte-level BPE files)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(split):
    """A byte-level BPE vocabulary learnt from CORPUS: 256 byte tokens, then N_MERGES."""
    import regex  # the `regex` module understands \\p{L}; only needed here

    byte_map = bytes_to_unicode()
    words = Counter(
        tuple(byte_map[b] for b in piece.encode())
        for piece in regex.findall(split, CORPUS)
    )
    vocab = [byte_map[b] for b in range(256)]
    merges = []
    for _ in range(N_MERGES):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab.append(a + b)
        merged = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return vocab, merges


def f16_values(rng, shape, std):
    return (rng.standard_normal(shape) * std).astype(np.float16)


def gpt2_weights(f, n_vocab, rng):
    """GPT-2's tensors by Hugging Face name: Conv1D matrices stored [in, out]."""
    d, ff = f["n_embd"], f["n_ff"]
    norm = lambda n: (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float16)
    bias = lambda n: f16_values(rng, n, 0.1)
    # A small embedding under large block outputs: the tied head does not echo the input.
    w = {"wte.weight": f16_values(rng, (n_vocab, d), 0.1),
         "wpe.weight": f16_values(rng, (CONTEXT, d), 0.1)}
    for l in range(f["n_layer"]):
        p = f"h.{l}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = norm(d), bias(d)
        w[p + "attn.c_attn.weight"] = f16_values(rng, (d, 3 * d), d ** -0.5)
        w[p + "attn.c_attn.bias"] = bias(3 * d)
        w[p + "attn.c_proj.weight"] = f16_values(rng, (d, d), 2 * OUT_SCALE * d ** -0.5)
        w[p + "attn.c_proj.bias"] = bias(d)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = norm(d), bias(d)
        w[p + "mlp.c_fc.weight"] = f16_values(rng, (d, ff), d ** -0.5)
        w[p + "mlp.c_fc.bias"] = bias(ff)
        w[p + "mlp.c_proj.weight"] = f16_values(rng, (ff, d), 2 * OUT_SCALE * ff ** -0.5)
        w[p + "mlp.c_proj.bias"] = bias(d)
    w["ln_f.weight"], w["ln_f.bias"] = norm(d), bias(d)
    return w


GPT2_GGUF_NAMES = {
    "ln_1.weight": "attn_norm.weight", "ln_1.bias": "attn_norm.bias",
    "attn.c_attn.weight": "attn_qkv.weight", "attn.c_attn.bias": "attn_qkv.bias",
    "attn.c_proj.weight": "attn_output.weight", "attn.c_proj.bias": "attn_output.bias",
    "ln_2.weight": "ffn_norm.weight", "ln_2.bias": "ffn_norm.bias",
    "mlp.c_fc.weight": "ffn_up.weight", "mlp.c_fc.bias": "ffn_up.bias",
    "mlp.c_proj.weight": "ffn_down.weight", "mlp.c_proj.bias": "ffn_down.bias",
}


def gpt2_gguf_tensors(hf):
    """GGUF names; the Conv1D matrices transposed to [out, in] (as llama.cpp's converter)."""
    out = {"token_embd.weight": hf["wte.weight"], "position_embd.weight": hf["wpe.weight"],
           "output_norm.weight": hf["ln_f.weight"], "output_norm.bias": hf["ln_f.bias"]}
    for name, value in hf.items():
        if not name.startswith("h."):
            continue
        layer, rest = name[2:].split(".", 1)
        out[f"blk.{layer}.{GPT2_GGUF_NAMES[rest]}"] = value.T.copy() if value.ndim == 2 else value
    return out


def weights(f, n_vocab, rng):
    """The model's tensors by Hugging Face name, as float16 arrays (HF layout). Gemma's
    checkpoints store each norm weight as w - 1 (GGUF files hold w): those are multiples of
    1/256, so that both are exact in float16."""
    d, q, kv, ff = f["n_embd"], f["n_head"] * f["head_dim"], f["n_head_kv"] * f["head_dim"], f["n_ff"]
    if f.get("gemma"):
        norm = lambda n: (np.round(0.2 * rng.standard_normal(n) * 256) / 256).astype(np.float16)
    else:
        norm = lambda n: (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float16)
    # Logits of a few units either way: decisive greedy steps, neither flat nor saturated.
    w = {"model.embed_tokens.weight": f16_values(rng, (n_vocab, d), 0.1 if f.get("gemma") else 0.35)}
    for l in range(f["n_layer"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "self_attn.q_proj.weight"] = f16_values(rng, (q, d), d ** -0.5)
        w[p + "self_attn.k_proj.weight"] = f16_values(rng, (kv, d), d ** -0.5)
        w[p + "self_attn.v_proj.weight"] = f16_values(rng, (kv, d), d ** -0.5)
        if f["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = norm(f["head_dim"])
            w[p + "self_attn.k_norm.weight"] = norm(f["head_dim"])
        w[p + "self_attn.o_proj.weight"] = f16_values(rng, (d, q), OUT_SCALE * q ** -0.5)
        if f.get("gemma"):
            # Post-norms near 4 (as trained Gemmas have large ones): the blocks' outputs
            # outweigh the scaled embedding that the tied head would otherwise echo.
            w[p + "post_attention_layernorm.weight"] = norm(d) + np.float16(3)
            w[p + "pre_feedforward_layernorm.weight"] = norm(d)
            w[p + "post_feedforward_layernorm.weight"] = norm(d) + np.float16(3)
        else:
            w[p + "post_attention_layernorm.weight"] = norm(d)
        w[p + "mlp.gate_proj.weight"] = f16_values(rng, (ff, d), d ** -0.5)
        w[p + "mlp.up_proj.weight"] = f16_values(rng, (ff, d), d ** -0.5)
        w[p + "mlp.down_proj.weight"] = f16_values(rng, (d, ff), OUT_SCALE * ff ** -0.5)
    w["model.norm.weight"] = norm(d)
    if not f["tied"]:
        w["lm_head.weight"] = f16_values(rng, (n_vocab, d), 4 * d ** -0.5)
    return w


GGUF_NAMES = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.q_norm.weight", "attn_q_norm.weight"),
    ("self_attn.k_norm.weight", "attn_k_norm.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
]


def permute(w, n_head):
    """llama.cpp's converter: Q/K rows from rotate-half to adjacent pairs."""
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


GEMMA_GGUF_NAMES = dict(GGUF_NAMES) | {
    "post_attention_layernorm.weight": "post_attention_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
}


def gguf_tensors(f, hf):
    """GGUF names and layout; Gemma's norms get their 1 added (as llama.cpp's converter)."""
    names = GEMMA_GGUF_NAMES if f.get("gemma") else PHI3_GGUF_NAMES if f.get("fused") else dict(GGUF_NAMES)
    out = {}
    for name, value in hf.items():
        if f.get("gemma") and name.endswith("norm.weight"):
            value = (value.astype(np.float32) + 1).astype(np.float16)
        if name == "model.embed_tokens.weight":
            out["token_embd.weight"] = value
        elif name == "model.norm.weight":
            out["output_norm.weight"] = value
        elif name == "lm_head.weight":
            out["output.weight"] = value
        else:
            layer, rest = name[len("model.layers."):].split(".", 1)
            gname = names[rest]
            if f["permute_qk"] and rest == "self_attn.q_proj.weight":
                value = permute(value, f["n_head"])
            if f["permute_qk"] and rest == "self_attn.k_proj.weight":
                value = permute(value, f["n_head_kv"])
            out[f"blk.{layer}.{gname}"] = value
    return out


def fuse(f, hf):
    """Phi-3's checkpoint layout: Q|K|V stacked into qkv_proj, gate|up into gate_up_proj."""
    out = {}
    for name, value in hf.items():
        p, _, rest = name.rpartition("self_attn.")
        if rest in ("k_proj.weight", "v_proj.weight") or name.endswith("mlp.up_proj.weight"):
            continue
        if rest == "q_proj.weight":
            out[p + "self_attn.qkv_proj.weight"] = np.concatenate(
                [hf[p + "self_attn.q_proj.weight"], hf[p + "self_attn.k_proj.weight"],
                 hf[p + "self_attn.v_proj.weight"]])
        elif name.endswith("mlp.gate_proj.weight"):
            p = name[: -len("gate_proj.weight")]
            out[p + "gate_up_proj.weight"] = np.concatenate(
                [hf[p + "gate_proj.weight"], hf[p + "up_proj.weight"]])
        else:
            out[name] = value
    return out


PHI3_GGUF_NAMES = dict(GGUF_NAMES) | {
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",
}


def longrope_factors(f):
    """LongRoPE's per-dimension divisors, as Phi-3's configs have them: short ones near 1,
    long ones growing from 1 to about 40 across the head (multiples of 1/64: exact in f32
    and in JSON)."""
    n = f["head_dim"] // 2
    t = np.arange(n) / (n - 1)
    short = np.round((1.0 + 0.2 * t) * 64) / 64
    long = np.round((1.0 + 39.0 * t ** 2) * 64) / 64
    return [float(x) for x in long], [float(x) for x in short]


def longrope_attn_factor(f):
    scale = CONTEXT / f["longrope"]["original_max_position_embeddings"]
    return float(np.sqrt(1 + np.log(scale) / np.log(f["longrope"]["original_max_position_embeddings"])))


def llama3_rope_freqs(f):
    """rope_freqs.weight as llama.cpp's converter computes it (LlamaModel.generate_extra_tensors)."""
    r = f["llama3_rope"]
    base, dim = f["rope_theta"], f["head_dim"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_wavelen = r["original_max_position_embeddings"] / r["low_freq_factor"]
    high_wavelen = r["original_max_position_embeddings"] / r["high_freq_factor"]
    factors = []
    for freq in freqs:
        wavelen = 2 * np.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(r["factor"])
        else:
            smooth = ((r["original_max_position_embeddings"] / wavelen - r["low_freq_factor"])
                      / (r["high_freq_factor"] - r["low_freq_factor"]))
            factors.append(1 / ((1 - smooth) / r["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def write_gguf(path, f, tokens, merges, tensors, dtype, template):
    w = gguf.GGUFWriter(str(path), f["arch"])
    w.add_name(f"synthetic {f['arch']}")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(f["n_embd"])
    w.add_block_count(f["n_layer"])
    w.add_feed_forward_length(f["n_ff"])
    w.add_head_count(f["n_head"])
    if f.get("gpt2"):  # as GPT2Model writes it: no rope, a LayerNorm epsilon
        w.add_layer_norm_eps(f["eps"])
    else:
        w.add_head_count_kv(f["n_head_kv"])
        if not f.get("fused"):  # Phi-3's converter writes neither: n_embd / n_head
            w.add_key_length(f["head_dim"])
            w.add_value_length(f["head_dim"])
        w.add_rope_dimension_count(f["head_dim"])
        w.add_rope_freq_base(f["rope_theta"])
        w.add_layer_norm_rms_eps(f["eps"])
    if "yarn" in f:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(f["yarn"]["factor"])
        w.add_rope_scaling_orig_ctx_len(f["yarn"]["original_max_position_embeddings"])
    if "longrope" in f:
        # As Phi3MiniModel writes it: the original context, the magnitude, both factor
        # sets, and the sliding window that llama.cpp then leaves unused.
        w.add_rope_scaling_orig_ctx_len(f["longrope"]["original_max_position_embeddings"])
        w.add_rope_scaling_attn_factors(longrope_attn_factor(f))
        w.add_sliding_window(f["longrope"]["sliding_window"])
        long, short = longrope_factors(f)
        w.add_tensor("rope_factors_long.weight", np.array(long, dtype=np.float32))
        w.add_tensor("rope_factors_short.weight", np.array(short, dtype=np.float32))
    if "sliding_window" in f:
        w.add_sliding_window(f["sliding_window"])
        w.add_sliding_window_pattern(f["global_every"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(f["pre"])
    w.add_token_list(tokens)
    n_plain = len(tokens) - len(f["specials"])
    w.add_token_types([1] * n_plain + [3] * len(f["specials"]))
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index(f["bos"]))
    w.add_eos_token_id(tokens.index(f["eos"]))
    w.add_add_bos_token(f["add_bos"])
    if template:
        w.add_chat_template(template)
    if "llama3_rope" in f:
        w.add_tensor("rope_freqs.weight", llama3_rope_freqs(f))
    for name, value in tensors.items():
        w.add_tensor(name, value.astype(dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, value in tensors.items():
        data = np.ascontiguousarray(value, dtype=np.float16).tobytes()
        header[name] = {"dtype": "F16", "shape": list(value.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def write_hf(folder, f, tokens, merges, hf, template):
    folder.mkdir(parents=True, exist_ok=True)
    n_plain = len(tokens) - len(f["specials"])
    config = {
        "architectures": [f["hf_class"]],
        "model_type": f["model_type"],
        "vocab_size": len(tokens),
        "hidden_size": f["n_embd"],
        "intermediate_size": f["n_ff"],
        "num_hidden_layers": f["n_layer"],
        "num_attention_heads": f["n_head"],
        "num_key_value_heads": f["n_head_kv"],
        "head_dim": f["head_dim"],
        "max_position_embeddings": CONTEXT,
        "rope_theta": f["rope_theta"],
        "rms_norm_eps": f["eps"],
        "tie_word_embeddings": f["tied"],
        "attention_bias": False,
        "bos_token_id": tokens.index(f["bos"]),
        "eos_token_id": tokens.index(f["eos"]),
        "torch_dtype": "float16",
    }
    if "llama3_rope" in f:
        config["rope_scaling"] = {"rope_type": "llama3", **f["llama3_rope"]}
    if "yarn" in f:
        config["rope_scaling"] = {"type": "yarn", **f["yarn"]}
    if "longrope" in f:
        long, short = longrope_factors(f)
        config["rope_scaling"] = {"type": "longrope", "long_factor": long, "short_factor": short}
        config["original_max_position_embeddings"] = f["longrope"]["original_max_position_embeddings"]
        config["sliding_window"] = f["longrope"]["sliding_window"]
        del config["head_dim"], config["attention_bias"]
    if f.get("gemma"):
        config |= {
            "hidden_activation": "gelu_pytorch_tanh",
            "sliding_window": f["sliding_window"],
            "layer_types": ["full_attention" if (l + 1) % f["global_every"] == 0
                            else "sliding_attention" for l in range(f["n_layer"])],
            "rope_local_base_freq": f["rope_theta_local"],
            "query_pre_attn_scalar": f["head_dim"],
        }
    if f.get("gpt2"):
        config = {
            "architectures": [f["hf_class"]], "model_type": f["model_type"],
            "vocab_size": len(tokens), "n_embd": f["n_embd"], "n_layer": f["n_layer"],
            "n_head": f["n_head"], "n_positions": CONTEXT, "n_inner": None,
            "layer_norm_epsilon": f["eps"], "activation_function": "gelu_new",
            "bos_token_id": tokens.index(f["bos"]), "eos_token_id": tokens.index(f["eos"]),
            "torch_dtype": "float16",
        }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    def rstrip(s):
        return f.get("rstrip_specials", False) and s not in ("<unk>", "<s>", "<|endoftext|>")
    added = [{"id": n_plain + i, "content": s, "single_word": False, "lstrip": False,
              "rstrip": rstrip(s), "normalized": False, "special": True}
             for i, s in enumerate(f["specials"])]
    post = None
    if f["add_bos"]:
        bos = {"id": f["bos"], "type_id": 0}
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": bos}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": bos}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {f["bos"]: {"id": f["bos"], "ids": [tokens.index(f["bos"])],
                                              "tokens": [f["bos"]]}}}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": f["split"]}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False},
        ]},
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": f["pre"] == "llama-bpe",
                  "vocab": {t: i for i, t in enumerate(tokens[:n_plain])},
                  "merges": merges},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n")
    tokenizer_config = {
        "add_bos_token": f["add_bos"],
        "bos_token": f["bos"],
        "eos_token": f["eos"],
        "model_max_length": CONTEXT,
    }
    if template:
        tokenizer_config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    write_safetensors(folder / "model.safetensors", hf)


def reference(f32_path, f, tokens):
    # An f32 KV cache (llama.cpp's default is f16), so that every activation stays f32.
    llm = llama_cpp.Llama(model_path=str(f32_path), n_ctx=CONTEXT, n_batch=CONTEXT,
                          logits_all=True, n_threads=2, verbose=bool(os.environ.get("VERBOSE")),
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    specials = {tokens.index(s) for s in f["specials"]}
    tokenized = [{"text": t, "ids": llm.tokenize(t.encode(), add_bos=False, special=False)}
                 for t in TEXTS]
    # A chat turn with the family's special tokens parsed (whitespace after them included).
    first, second, third = (f["specials"] * 3)[-3:]
    chat = f"{first}\nThe capital of France?{third}\n {second}\n"
    special = {"text": chat, "ids": llm.tokenize(chat.encode(), add_bos=False, special=True)}
    rng = np.random.default_rng(f["seed"] + 1000)
    n_plain = len(tokens) - len(f["specials"])
    prompts = [tokenized[0]["ids"], tokenized[1]["ids"],
               [int(t) for t in rng.integers(0, n_plain, 60)]]
    if f["add_bos"]:
        prompts = [[tokens.index(f["bos"])] + p for p in prompts]
    cases = []
    for prompt in prompts:
        llm.reset()
        llm.eval(prompt)
        last = np.array(llm.scores[len(prompt) - 1], dtype=np.float64)
        greedy, margins = [], []
        logits = last
        for _ in range(GREEDY_TOKENS):
            order = np.argsort(-logits, kind="stable")
            tok = int(order[0])
            greedy.append(tok)
            margins.append(float(logits[order[0]] - logits[order[1]]))
            if tok in specials:
                break
            llm.eval([tok])
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        cases.append({"prompt_ids": prompt, "last_logits": [round(float(x), 6) for x in last],
                      "greedy_ids": greedy, "top2_margins": margins})
    return {"tokenize": tokenized, "tokenize_special": special, "cases": cases}


def build(name, f):
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = learn_merges(f["split"])
    tokens = vocab + f["specials"]
    template = f["template"] and (ROOT / "models" / "llama.cpp" / "templates" / f["template"]).read_text()
    rng = np.random.default_rng(f["seed"])
    if f.get("gpt2"):
        hf = gpt2_weights(f, len(tokens), rng)
        tensors = gpt2_gguf_tensors(hf)
    else:
        hf = weights(f, len(tokens), rng)
        if f.get("fused"):
            hf = fuse(f, hf)
        tensors = gguf_tensors(f, hf)
    write_gguf(folder / "model.gguf", f, tokens, merges, tensors, np.float16, template)
    write_hf(folder / "hf", f, tokens, merges, hf, template)
    with tempfile.TemporaryDirectory() as tmp:
        f32_path = Path(tmp) / "model-f32.gguf"
        write_gguf(f32_path, f, tokens, merges, tensors, np.float32, template)
        ref = reference(f32_path, f, tokens)
    ref = {"family": name, "generator": "scripts/synthetic-models.py",
           "llama_cpp_python": llama_cpp.__version__, "n_vocab": len(tokens),
           "weights": "every value a float16; llama.cpp ran the F32 file with an f32 KV cache", **ref}
    (folder / "reference.json").write_text(json.dumps(ref) + "\n")
    sizes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"{name}: {len(tokens)} tokens, {sizes / 1e6:.1f} MB in {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    names = sys.argv[1:] or list(FAMILIES)
    for n in names:
        build(n, FAMILIES[n])

#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/corpus/<target>/, cut from real GGUF
models at run time (so that no model bytes are committed):

- gguf_chunks: a one-layer model with the real metadata, a small vocabulary and small
  tensors of the real types (it passes the loader's checks, so tensors stream and come in
  pieces), and each file's first bytes; each behind the target's flag and chunk-size bytes.
- gguf_tokenizer: GGUF headers holding only the tokenizer: the first tokens of each real
  vocabulary plus its special and byte tokens, with the merges among them; a SentencePiece
  variant made from a byte-level one; sample text after the header.
- safetensors_chunks: small safetensors files of every supported dtype.
- hf_json: config.json and tokenizer_config.json as a Hugging Face folder of each model
  would hold them.
- chat_template: each model's chat template with a conversation.

Usage: scripts/fuzz-seeds.py CORPUS_DIR MODEL.gguf... [--max-len TARGET=BYTES ...]
"""

import argparse
import json
import os
import struct
import sys

# GGUF metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?",
          U64: "Q", I64: "q", F64: "d"}
# ggml type id: (elements per block, bytes per block), for the types the models use.
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
          8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}
ALIGNMENT = 32
# llama.cpp token types.
NORMAL, CONTROL, USER_DEFINED, BYTE = 1, 3, 4, 6

# The mini model: one layer, hidden size 256 (one block of the K-quants), four heads of 64,
# one KV head, FFN 256, the first 128 tokens; about 350 KB.
MINI_EMBD, MINI_FF, MINI_HEAD_DIM, MINI_HEADS, MINI_KV_HEADS = 256, 256, 64, 4, 1
MINI_VOCAB = 128


class Reader:
    def __init__(self, f):
        self.f = f

    def unpack(self, fmt):
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.f.read(size))

    def string(self):
        (n,) = self.unpack("Q")
        return self.f.read(n)

    def value(self, vtype):
        if vtype in SCALAR:
            return self.unpack(SCALAR[vtype])[0]
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype, n = self.unpack("IQ")
            return (etype, [self.value(etype) for _ in range(n)])
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf(path):
    """(metadata {key: (type, value)}, tensors [(name, ne, type, offset)], data offset)."""
    with open(path, "rb") as f:
        r = Reader(f)
        magic, version, n_tensors, n_kv = r.unpack("IIQQ")
        if magic != 0x46554747:
            raise ValueError(f"{path} is not a GGUF file")
        meta = {}
        for _ in range(n_kv):
            key = r.string().decode()
            (vtype,) = r.unpack("I")
            meta[key] = (vtype, r.value(vtype))
        tensors = []
        for _ in range(n_tensors):
            name = r.string().decode()
            (n_dims,) = r.unpack("I")
            ne = list(r.unpack("Q" * n_dims))
            ttype, offset = r.unpack("IQ")
            tensors.append((name, ne, ttype, offset))
        alignment = meta.get("general.alignment", (U32, ALIGNMENT))[1]
        data_offset = -(-f.tell() // alignment) * alignment
    return meta, tensors, data_offset


def pack_value(vtype, value):
    if vtype in SCALAR:
        return struct.pack("<" + SCALAR[vtype], value)
    if vtype == STRING:
        return struct.pack("<Q", len(value)) + value
    etype, items = value
    return struct.pack("<IQ", etype, len(items)) + b"".join(pack_value(etype, v) for v in items)


def write_gguf(meta, tensors, tail=b""):
    """A GGUF v3 file: `tensors` are (name, ne, type, data); `tail` follows the data."""
    out = bytearray(struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(meta)))
    for key, (vtype, value) in meta.items():
        out += pack_value(STRING, key.encode()) + struct.pack("<I", vtype)
        out += pack_value(vtype, value)
    offset = 0
    offsets = []
    for name, ne, ttype, data in tensors:
        out += pack_value(STRING, name.encode()) + struct.pack("<I", len(ne))
        out += struct.pack("<" + "Q" * len(ne), *ne) + struct.pack("<IQ", ttype, offset)
        offsets.append(offset)
        offset = -(-(offset + len(data)) // ALIGNMENT) * ALIGNMENT
    out += bytes(-len(out) % ALIGNMENT)
    data_start = len(out)
    for (_, _, _, data), tensor_offset in zip(tensors, offsets):
        out += bytes(data_start + tensor_offset - len(out)) + data
    return bytes(out) + tail


def small_vocab(meta, n_first):
    """The metadata with a vocabulary cut to its first `n_first` tokens plus its special and
    byte tokens (ids renumbered, merges among the kept tokens only)."""
    tokens = meta["tokenizer.ggml.tokens"][1][1]
    types = meta.get("tokenizer.ggml.token_type", (ARRAY, (I32, [NORMAL] * len(tokens))))[1][1]
    id_keys = [k for k in meta if k.startswith("tokenizer.ggml.") and k.endswith("_token_id")]
    keep = set(range(min(n_first, len(tokens))))
    specials = [i for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)]
    keep.update(specials[:64])
    keep.update(i for i, t in enumerate(types) if t == BYTE)
    keep.update(meta[k][1] for k in id_keys if meta[k][1] < len(tokens))
    kept = sorted(keep)
    new_id = {old: new for new, old in enumerate(kept)}
    out = dict(meta)
    out["tokenizer.ggml.tokens"] = (ARRAY, (STRING, [tokens[i] for i in kept]))
    for key in ("tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
        if key in meta:
            etype, values = meta[key][1]
            out[key] = (ARRAY, (etype, [values[i] for i in kept]))
    if "tokenizer.ggml.merges" in meta:
        kept_strings = {tokens[i] for i in kept}
        merges = []
        for merge in meta["tokenizer.ggml.merges"][1][1]:
            left, _, right = merge.partition(b" ")
            if left in kept_strings and right in kept_strings and left + right in kept_strings:
                merges.append(merge)
        out["tokenizer.ggml.merges"] = (ARRAY, (STRING, merges))
    for key in id_keys:
        vtype, old = meta[key]
        if old in new_id:
            out[key] = (vtype, new_id[old])
        else:
            del out[key]
    arch = meta["general.architecture"][1].decode()
    if f"{arch}.vocab_size" in meta:
        out[f"{arch}.vocab_size"] = (meta[f"{arch}.vocab_size"][0], len(kept))
    return out


def tokenizer_only(meta):
    return {k: v for k, v in meta.items() if k.startswith("tokenizer.") or k.startswith("general.")}


def sentencepiece_variant(meta):
    """A `llama` (SentencePiece BPE) vocabulary made from a byte-level one: `Ġ` spelled
    `▁`, scores from the merge order, and the 256 `<0xXX>` byte tokens."""
    tokens = [t.replace("Ġ".encode(), "▁".encode()) for t in meta["tokenizer.ggml.tokens"][1][1]]
    types = list(meta["tokenizer.ggml.token_type"][1][1])
    tokens += [f"<0x{b:02X}>".encode() for b in range(256)]
    types += [BYTE] * 256
    out = {k: v for k, v in meta.items() if k not in ("tokenizer.ggml.merges", "tokenizer.ggml.pre")}
    out["tokenizer.ggml.model"] = (STRING, b"llama")
    out["tokenizer.ggml.tokens"] = (ARRAY, (STRING, tokens))
    out["tokenizer.ggml.token_type"] = (ARRAY, (I32, types))
    out["tokenizer.ggml.scores"] = (ARRAY, (F32, [-float(i) for i in range(len(tokens))]))
    out["tokenizer.ggml.add_space_prefix"] = (BOOL, True)
    return out


def mini_model(path, meta, tensors, data_offset):
    """A one-layer model with the file's metadata and tensor types, its sizes scaled down and
    a small vocabulary; tensor bytes are the first bytes of the real tensors."""
    arch = meta["general.architecture"][1].decode()
    n_embd = meta[f"{arch}.embedding_length"][1]
    n_head = meta[f"{arch}.attention.head_count"][1]
    n_head_kv = meta.get(f"{arch}.attention.head_count_kv", (U32, n_head))[1]
    n_ff = meta[f"{arch}.feed_forward_length"][1]
    out = small_vocab(meta, MINI_VOCAB)
    n_vocab = len(out["tokenizer.ggml.tokens"][1][1])
    dims = {
        n_ff: MINI_FF,
        n_embd: MINI_EMBD,
        len(meta["tokenizer.ggml.tokens"][1][1]): n_vocab,
        n_embd // n_head * n_head_kv: MINI_HEAD_DIM * MINI_KV_HEADS,
    }
    for key, value in [("block_count", 1), ("embedding_length", MINI_EMBD),
                       ("feed_forward_length", MINI_FF), ("attention.head_count", MINI_HEADS),
                       ("attention.head_count_kv", MINI_KV_HEADS), ("context_length", 256),
                       ("rope.dimension_count", MINI_HEAD_DIM)]:
        if f"{arch}.{key}" in out:
            out[f"{arch}.{key}"] = (U32, value)
    mini = []
    with open(path, "rb") as f:
        for name, ne, ttype, offset in tensors:
            if name.startswith("blk.") and not name.startswith("blk.0."):
                continue
            new_ne = [dims[d] for d in ne]
            block_len, block_bytes = BLOCKS[ttype]
            n_elements = 1
            for d in new_ne:
                n_elements *= d
            f.seek(data_offset + offset)
            mini.append((name, new_ne, ttype, f.read(n_elements // block_len * block_bytes)))
    return write_gguf(out, mini)


def safetensors_file(tensors, metadata=None):
    """`tensors`: (name, dtype, shape, element bytes)."""
    header = {}
    data = bytearray()
    for name, dtype, shape, elem in tensors:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n * elem]}
        data += bytes((i * 37 + 11) % 256 for i in range(n * elem))
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def hf_config(meta):
    arch = meta["general.architecture"][1].decode()
    get = lambda key, default=None: meta.get(f"{arch}.{key}", (None, default))[1]
    n_embd = get("embedding_length")
    return {
        "architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}.get(arch, arch)],
        "model_type": arch,
        "hidden_size": n_embd,
        "intermediate_size": get("feed_forward_length"),
        "num_hidden_layers": get("block_count"),
        "num_attention_heads": get("attention.head_count"),
        "num_key_value_heads": get("attention.head_count_kv"),
        "head_dim": get("rope.dimension_count"),
        "max_position_embeddings": get("context_length"),
        "rope_theta": get("rope.freq_base", 10000.0),
        "rms_norm_eps": get("attention.layer_norm_rms_epsilon", 1e-6),
        "vocab_size": len(meta["tokenizer.ggml.tokens"][1][1]),
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "rope_scaling": None,
    }


def hf_tokenizer_config(meta):
    tokens = meta["tokenizer.ggml.tokens"][1][1]
    token = lambda key: tokens[meta[key][1]].decode() if key in meta else None
    config = {
        "add_bos_token": meta.get("tokenizer.ggml.add_bos_token", (BOOL, False))[1],
        "bos_token": {"content": token("tokenizer.ggml.bos_token_id"), "lstrip": False},
        "eos_token": token("tokenizer.ggml.eos_token_id"),
    }
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"][1].decode()
    return config


CONVERSATION = [
    ("system", "You are brief."),
    ("user", "What is the capital of France?"),
    ("assistant", "Paris."),
    ("tool", '{"temperature": 21}'),
    ("user", "And of Japan? 日本 🙂"),
]

# Flag bytes and chunk-size bytes for the chunked targets (see fuzz/src/chunks.rs): whole
# reads; one-byte reads with the file length; pieces of 1 KiB with mixed reads; 4 KiB reads.
CHUNK_PREFIXES = {
    "whole": bytes([0x00]) + bytes([255] * 8),
    "bytes-len": bytes([0x01]) + bytes([0] * 8),
    "pieces": bytes([0x01 | 0x02 | (4 << 2)]) + bytes([0, 7, 63, 127, 128, 3, 200, 255]),
    "pages": bytes([0x02 | (8 << 2)]) + bytes([128] * 8),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--max-len", action="append", default=[], metavar="TARGET=BYTES")
    args = parser.parse_args()
    max_len = {t: int(n) for t, n in (item.split("=") for item in args.max_len)}

    def write(target, name, data):
        limit = max_len.get(target)
        if limit is not None and len(data) > limit:
            print(f"  {target}/{name}: {len(data)} bytes, over max_len {limit}: cut", file=sys.stderr)
            data = data[:limit]
        directory = os.path.join(args.corpus, target)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"seed-{name}"), "wb") as f:
            f.write(data)

    sample_text = "Hello, world! It's 2024: 12345 apples. héllo 世界 🙂\n".encode()
    for path in args.models:
        stem = os.path.basename(path).removesuffix(".gguf")
        meta, tensors, data_offset = read_gguf(path)
        arch = meta["general.architecture"][1].decode()
        byte_level = meta.get("tokenizer.ggml.model", (STRING, b""))[1] == b"gpt2"

        vocab = tokenizer_only(small_vocab(meta, 1000))
        write("gguf_tokenizer", f"{stem}-vocab", write_gguf(vocab, [], sample_text))
        if byte_level:
            variant = sentencepiece_variant(vocab)
            write("gguf_tokenizer", f"{stem}-sentencepiece", write_gguf(variant, [], sample_text))

        with open(path, "rb") as f:
            head = f.read(max_len.get("gguf_chunks", 1 << 20) - len(CHUNK_PREFIXES["pages"]))
        if arch in ("llama", "qwen2"):
            mini = mini_model(path, meta, tensors, data_offset)
            for prefix_name, prefix in CHUNK_PREFIXES.items():
                write("gguf_chunks", f"{stem}-mini-{prefix_name}", prefix + mini)
        write("gguf_chunks", f"{stem}-head", CHUNK_PREFIXES["pages"] + head)
        write("gguf_chunks", f"{stem}-vocab", CHUNK_PREFIXES["bytes-len"] + write_gguf(vocab, []))

        if f"{arch}.embedding_length" in meta:
            files = [json.dumps(hf_config(meta), indent=2), json.dumps(hf_tokenizer_config(meta)),
                     json.dumps({"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                                                "lm_head.weight": "model-00002-of-00002.safetensors"}})]
            write("hf_json", stem, "\0".join(files).encode())

        if "tokenizer.chat_template" in meta:
            parts = [meta["tokenizer.chat_template"][1].decode()]
            for role, content in CONVERSATION:
                parts += [role, content]
            write("chat_template", stem, "\0".join(parts).encode())

    st = safetensors_file(
        [("model.embed_tokens.weight", "BF16", [64, 32], 2),
         ("model.layers.0.self_attn.q_proj.weight", "F16", [32, 32], 2),
         ("model.norm.weight", "F32", [32], 4),
         ("empty", "F32", [0, 4], 4)],
        {"format": "pt"})
    for prefix_name, prefix in CHUNK_PREFIXES.items():
        write("safetensors_chunks", f"small-{prefix_name}", prefix + st)
    write("safetensors_chunks", "no-tensors", CHUNK_PREFIXES["bytes-len"] + safetensors_file([]))
    print(f"seeds from {len(args.models)} models written to {args.corpus}")


if __name__ == "__main__":
    main()

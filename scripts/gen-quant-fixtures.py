#!/usr/bin/env python3
"""Writes tests/fixtures/quant/<type>.bin: a few blocks of every quantized type hearth
decodes, with the values the `gguf` package (llama.cpp's Python reference of ggml's block
layouts) dequantizes them to. tests/quant.rs checks hearth's CPU dequantization against
them bit for bit.

Each file is the raw blocks followed by the expected values as little-endian f32; the
block count follows from the file length (each block is `block_bytes` + 4 * `block_len`
bytes in all).

The blocks are random bytes whose f16 scales are overwritten with finite values:
positive, negative, zero, the f16 extremes (65504, the smallest subnormal), so that no
NaN or Inf enters the comparison; some blocks have every quant bit set or clear.

    python3 -m venv /tmp/ggufenv && /tmp/ggufenv/bin/pip install gguf numpy
    /tmp/ggufenv/bin/python scripts/gen-quant-fixtures.py
"""

from pathlib import Path

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "quant"

# Byte offsets of the f16 fields of each block: (d, second scale or None).
F16_FIELDS = {
    T.Q8_0: (0, None),
    T.Q4_0: (0, None),
    T.Q4_1: (0, 2),  # d, m
    T.Q5_0: (0, None),
    T.Q5_1: (0, 2),  # d, m
    T.Q4_K: (0, 2),  # d, dmin
    T.Q5_K: (0, 2),  # d, dmin
    T.Q6_K: (208, None),  # d is the last field
}

# (d, second) per block, then how the quant bytes are filled.
SMALL_BLOCKS = [
    (0.0371, -0.75, "random"),
    (-1.5, 0.3125, "random"),
    (65504.0, -65504.0, "ones"),
    (2.0**-24, 0.0, "zeros"),
    (0.0, 1.0, "random"),
    (-0.0, -2.5, "ones"),
]
K_BLOCKS = [
    (0.0123, -0.0456, "random"),
    (-3.25, 0.0, "extremes"),
]


def f16_bytes(x: float) -> np.ndarray:
    return np.frombuffer(np.float16(x).tobytes(), dtype=np.uint8)


def make_block(qtype: T, rng: np.random.Generator, d: float, second: float, fill: str):
    _, type_size = GGML_QUANT_SIZES[qtype]
    block = rng.integers(0, 256, size=type_size, dtype=np.uint8)
    d_at, second_at = F16_FIELDS[qtype]
    scale_fields = {d_at, d_at + 1}
    if second_at is not None:
        scale_fields |= {second_at, second_at + 1}
    payload = [i for i in range(type_size) if i not in scale_fields]
    if fill == "ones":
        block[payload] = 0xFF
    elif fill == "zeros":
        block[payload] = 0x00
    elif fill == "extremes":
        # Bytes alternately all ones and all zeros: the largest and smallest quants, and
        # (for K-quants) the largest sub-block scales and mins next to zero ones.
        block[payload[0::2]] = 0xFF
        block[payload[1::2]] = 0x00
    if qtype == T.Q6_K and fill == "random":
        # The int8 sub-block scales at their extremes and zero.
        block[192:196] = np.array([0x80, 0x7F, 0x00, 0xFF], dtype=np.uint8)
    if qtype == T.Q8_0 and fill == "random":
        block[2:6] = np.array([0x80, 0x7F, 0x00, 0xFF], dtype=np.uint8)
    block[d_at : d_at + 2] = f16_bytes(d)
    if second_at is not None:
        block[second_at : second_at + 2] = f16_bytes(second)
    return block


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    total = 0
    for qtype in F16_FIELDS:
        block_len, _ = GGML_QUANT_SIZES[qtype]
        specs = K_BLOCKS if block_len == 256 else SMALL_BLOCKS
        blocks = np.stack([make_block(qtype, rng, *spec) for spec in specs])
        values = dequantize(blocks, qtype).astype("<f4").reshape(-1)
        assert values.size == len(specs) * block_len
        assert np.isfinite(values).all(), qtype.name
        data = blocks.tobytes() + values.tobytes()
        path = OUT / f"{qtype.name.lower()}.bin"
        path.write_bytes(data)
        total += len(data)
        print(f"{path.relative_to(OUT.parent.parent.parent)}: {len(specs)} blocks, {len(data)} bytes")
    print(f"{total} bytes in all")


if __name__ == "__main__":
    main()

// Epilogue of a linear product whose output units are rows:
//   Y[t, row] = act(acc (+ bias[row])) (+ Y[t, row] if RESIDUAL),
// act GELU with GELU (GPT-2's ungated FFN), none otherwise.

#include activation

const PAIRED: bool = false;

override N_OUT: u32;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;
override GELU: bool = false;

@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

/// Stores row `r` of the shard (nothing past its rows: they are zero padding).
fn store_row(t: u32, r: u32, acc: f32) {
    if (r >= shard.n_rows) { return; }
    let row = shard.row_start + r;
    var v = acc;
    if (HAS_BIAS) { v += bias[row]; }
    if (GELU) { v = gelu(v); }
    let o = t * N_OUT + row;
    if (RESIDUAL) { v += y[o]; }
    y[o] = v;
}

fn store_pair(t: u32, p: u32, a: f32, b: f32) {}

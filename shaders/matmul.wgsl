// Matrix-matrix product for prefill: Y[t, row] = in(X)[t, :] · W[row, :] over ONE shard
// of a row-sharded fp16 matrix W [rows, K], for all n_tokens rows of X.
//
// Each invocation computes a 4-row × 4-token block on its own, reading W and X straight
// from memory: no workgroup memory and no barriers. On CPU WebGPU implementations
// (lavapipe, SwiftShader) a barrier costs microseconds per workgroup, far more than the
// loads it would save; each weight word is still reused for 4 tokens from registers, and
// adjacent invocations (SIMD lanes) share the same X values.
//
// in(X) by INPUT_MODE: 0 = X;  2 = silu(X[:, :K]) * X[:, K:2K] (gate|up stacked).
// Output row stride is N_OUT (the whole matrix's rows); + bias, + Y (RESIDUAL) as in matvec.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override K: u32;
override N_OUT: u32;
override INPUT_MODE: u32 = 0u;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;

const WG: u32 = 32u;
const ROWS: u32 = 4u;
const TOKENS: u32 = 4u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

fn weight(row: u32, word: u32) -> vec2<f32> {
    if (row >= shard.n_rows) { return vec2<f32>(0.0, 0.0); }
    return unpack2x16float(w[row * (K / 2u) + word]);
}

fn input(t: u32, word: u32) -> vec2<f32> {
    if (t >= step.n_tokens) { return vec2<f32>(0.0, 0.0); }
    if (INPUT_MODE == 2u) {
        let b = t * 2u * K + 2u * word;
        let g = vec2<f32>(x[b], x[b + 1u]);
        return g / (1.0 + exp(-g)) * vec2<f32>(x[b + K], x[b + K + 1u]);
    }
    let b = t * K + 2u * word;
    return vec2<f32>(x[b], x[b + 1u]);
}

fn store(t: u32, row0: u32, acc: vec4<f32>) {
    if (t >= step.n_tokens) { return; }
    for (var i = 0u; i < ROWS; i++) {
        let local_row = row0 + i;
        if (local_row < shard.n_rows) {
            let row = shard.row_start + local_row;
            var v = acc[i];
            if (HAS_BIAS) { v += bias[row]; }
            let o = t * N_OUT + row;
            if (RESIDUAL) { v += y[o]; }
            y[o] = v;
        }
    }
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row0 = (wid.x * WG + lid) * ROWS;
    let t0 = wid.y * TOKENS;
    if (row0 >= shard.n_rows) { return; }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var j = 0u; j < K / 2u; j++) {
        let w0 = weight(row0, j);
        let w1 = weight(row0 + 1u, j);
        let w2 = weight(row0 + 2u, j);
        let w3 = weight(row0 + 3u, j);
        let a0 = input(t0, j);
        let a1 = input(t0 + 1u, j);
        let a2 = input(t0 + 2u, j);
        let a3 = input(t0 + 3u, j);
        acc0 += vec4<f32>(dot(w0, a0), dot(w1, a0), dot(w2, a0), dot(w3, a0));
        acc1 += vec4<f32>(dot(w0, a1), dot(w1, a1), dot(w2, a1), dot(w3, a1));
        acc2 += vec4<f32>(dot(w0, a2), dot(w1, a2), dot(w2, a2), dot(w3, a2));
        acc3 += vec4<f32>(dot(w0, a3), dot(w1, a3), dot(w2, a3), dot(w3, a3));
    }
    store(t0, row0, acc0);
    store(t0 + 1u, row0, acc1);
    store(t0 + 2u, row0, acc2);
    store(t0 + 3u, row0, acc3);
}

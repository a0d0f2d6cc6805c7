// Matrix-vector product for decode: y = W · in(x) over ONE shard of a row-sharded fp16
// matrix W [rows, K], for the LAST token of the chunk (row n_tokens - 1 of x).
//
// Each invocation computes ROWS consecutive rows on its own, with no workgroup memory and
// no barriers: on CPU WebGPU implementations (lavapipe, SwiftShader) a barrier costs
// microseconds per workgroup, far more than the arithmetic, while the shared input x stays
// in cache. Computing several rows per invocation amortizes the input transform.
//
// in(x) by INPUT_MODE:  0 = x;  1 = rmsnorm(x) * norm_w (norm fused: the sum of squares
// is recomputed per invocation, cheaper than a barrier);  2 = silu(x[:K]) * x[K:2K]
// (gate|up stacked). Output: y[row] = in·w (+ bias[row]) (+ y[row] if RESIDUAL).

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override K: u32;
override INPUT_MODE: u32 = 0u;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;
override EPS: f32 = 1e-5;

const ROWS: u32 = 4u;
const WG: u32 = 32u;

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

fn store(local_row: u32, acc: vec2<f32>) {
    if (local_row >= shard.n_rows) { return; }
    let row = shard.row_start + local_row;
    var v = acc.x + acc.y;
    if (HAS_BIAS) { v += bias[row]; }
    if (RESIDUAL) { v += y[row]; }
    y[row] = v;
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row0 = ((wid.x + wid.y * nwg.x) * WG + lid) * ROWS;
    if (row0 >= shard.n_rows) { return; }
    var x_stride = K;
    if (INPUT_MODE == 2u) { x_stride = 2u * K; }
    let xb = (step.n_tokens - 1u) * x_stride;

    var scale = 1.0;
    if (INPUT_MODE == 1u) {
        var ss = 0.0;
        for (var j = 0u; j < K; j++) { let v = x[xb + j]; ss += v * v; }
        scale = 1.0 / sqrt(ss / f32(K) + EPS);
    }

    var acc0 = vec2<f32>(0.0, 0.0);
    var acc1 = vec2<f32>(0.0, 0.0);
    var acc2 = vec2<f32>(0.0, 0.0);
    var acc3 = vec2<f32>(0.0, 0.0);
    for (var j = 0u; j < K / 2u; j++) {
        var a = vec2<f32>(x[xb + 2u * j], x[xb + 2u * j + 1u]);
        if (INPUT_MODE == 1u) {
            a = a * scale * vec2<f32>(norm_w[2u * j], norm_w[2u * j + 1u]);
        } else if (INPUT_MODE == 2u) {
            let u = vec2<f32>(x[xb + K + 2u * j], x[xb + K + 2u * j + 1u]);
            a = a / (1.0 + exp(-a)) * u;
        }
        acc0 += weight(row0, j) * a;
        acc1 += weight(row0 + 1u, j) * a;
        acc2 += weight(row0 + 2u, j) * a;
        acc3 += weight(row0 + 3u, j) * a;
    }
    store(row0, acc0);
    store(row0 + 1u, acc1);
    store(row0 + 2u, acc2);
    store(row0 + 3u, acc3);
}

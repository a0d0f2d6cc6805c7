// Matrix-vector product for decode: y = W · in(x) over ONE shard of a row-sharded fp16
// matrix W [rows, K], for the LAST token of the chunk (row n_tokens - 1 of x).
// Each workgroup computes ROWS consecutive rows; its threads stride over the columns
// (adjacent threads read adjacent words) and the partial sums are combined by a tree
// reduction in workgroup memory that is correct for any WG <= MAX_WG.
//
// in(x) by INPUT_MODE:  0 = x;  1 = rmsnorm(x) * norm_w (norm fused: each workgroup
// recomputes the cheap sum of squares);  2 = silu(x[:K]) * x[K:2K] (gate|up stacked).
// Output: y[row] = in·w (+ bias[row]) (+ y[row] if RESIDUAL: the residual add fused).

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override K: u32;
override INPUT_MODE: u32 = 0u;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;
override EPS: f32 = 1e-5;
override WG: u32 = 64u;

const ROWS: u32 = 4u;
const MAX_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

var<workgroup> partial: array<f32, 1024>; // ROWS * MAX_WG
var<workgroup> norm_scale: f32;

fn half_pow2(n: u32) -> u32 {
    var s = 1u;
    while (s < n) { s = s << 1u; }
    return s >> 1u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let group = wid.x + wid.y * nwg.x;
    let row0 = group * ROWS;
    var x_stride = K;
    if (INPUT_MODE == 2u) { x_stride = 2u * K; }
    let xb = (step.n_tokens - 1u) * x_stride;

    var scale = 1.0;
    if (INPUT_MODE == 1u) {
        var ss = 0.0;
        for (var j = tid; j < K; j += WG) { let v = x[xb + j]; ss += v * v; }
        partial[tid] = ss;
        workgroupBarrier();
        for (var s = half_pow2(WG); s > 0u; s = s >> 1u) {
            if (tid < s && tid + s < WG) { partial[tid] += partial[tid + s]; }
            workgroupBarrier();
        }
        if (tid == 0u) { norm_scale = 1.0 / sqrt(partial[0] / f32(K) + EPS); }
        workgroupBarrier();
        scale = norm_scale;
    }

    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let words = K / 2u;
    for (var j = tid; j < words; j += WG) {
        var a = vec2<f32>(x[xb + 2u * j], x[xb + 2u * j + 1u]);
        if (INPUT_MODE == 1u) {
            a = a * scale * vec2<f32>(norm_w[2u * j], norm_w[2u * j + 1u]);
        } else if (INPUT_MODE == 2u) {
            let u = vec2<f32>(x[xb + K + 2u * j], x[xb + K + 2u * j + 1u]);
            a = a / (1.0 + exp(-a)) * u;
        }
        for (var r = 0u; r < ROWS; r++) {
            let row = row0 + r;
            if (row < shard.n_rows) {
                acc[r] += dot(unpack2x16float(w[row * words + j]), a);
            }
        }
    }

    workgroupBarrier();
    for (var r = 0u; r < ROWS; r++) { partial[r * MAX_WG + tid] = acc[r]; }
    workgroupBarrier();
    for (var s = half_pow2(WG); s > 0u; s = s >> 1u) {
        if (tid < s && tid + s < WG) {
            for (var r = 0u; r < ROWS; r++) {
                partial[r * MAX_WG + tid] += partial[r * MAX_WG + tid + s];
            }
        }
        workgroupBarrier();
    }
    if (tid < ROWS && row0 + tid < shard.n_rows) {
        let row = shard.row_start + row0 + tid;
        var v = partial[tid * MAX_WG];
        if (HAS_BIAS) { v += bias[row]; }
        if (RESIDUAL) { v += y[row]; }
        y[row] = v;
    }
}

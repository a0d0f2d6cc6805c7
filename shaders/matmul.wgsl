// Matrix-matrix product for prefill: Y[t, row] = in(X)[t, :] · W[row, :] over ONE shard
// of a row-sharded fp16 matrix W [rows, K], for all n_tokens rows of X.
// Tiled: a workgroup of 256 threads computes a TM×TN tile (32 tokens × 64 rows), staging
// TK = 16 columns of X and W at a time in workgroup memory, so each weight is read from
// memory once per 32 tokens. Every thread owns 2 tokens × 4 rows of the tile.
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

const TM: u32 = 32u;
const TN: u32 = 64u;
const TK: u32 = 16u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

var<workgroup> xs: array<f32, 512>;  // [TM][TK]
var<workgroup> ws: array<f32, 1024>; // [TN][TK]

fn load_x(t: u32, col: u32) -> f32 {
    if (t >= step.n_tokens || col >= K) { return 0.0; }
    if (INPUT_MODE == 2u) {
        let g = x[t * 2u * K + col];
        return g / (1.0 + exp(-g)) * x[t * 2u * K + K + col];
    }
    return x[t * K + col];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let r0 = wid.x * TN;
    let t0 = wid.y * TM;
    let tx = tid % 16u; // rows tx + 16 i
    let ty = tid / 16u; // tokens ty + 16 j
    let words = K / 2u;

    var acc: array<f32, 8>; // [j * 4 + i]
    for (var i = 0u; i < 8u; i++) { acc[i] = 0.0; }

    for (var k0 = 0u; k0 < K; k0 += TK) {
        for (var c = 0u; c < 2u; c++) {
            let e = tid + 256u * c;
            let tok = e / TK;
            let kk = e % TK;
            xs[e] = load_x(t0 + tok, k0 + kk);
        }
        for (var c = 0u; c < 2u; c++) {
            let e = tid + 256u * c;
            let row = e / (TK / 2u);
            let wd = e % (TK / 2u);
            let word = k0 / 2u + wd;
            var v = vec2<f32>(0.0, 0.0);
            if (r0 + row < shard.n_rows && word < words) {
                v = unpack2x16float(w[(r0 + row) * words + word]);
            }
            ws[row * TK + 2u * wd] = v.x;
            ws[row * TK + 2u * wd + 1u] = v.y;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let x0 = xs[ty * TK + kk];
            let x1 = xs[(ty + 16u) * TK + kk];
            for (var i = 0u; i < 4u; i++) {
                let wv = ws[(tx + 16u * i) * TK + kk];
                acc[i] += x0 * wv;
                acc[4u + i] += x1 * wv;
            }
        }
        workgroupBarrier();
    }

    for (var j = 0u; j < 2u; j++) {
        let t = t0 + ty + 16u * j;
        if (t >= step.n_tokens) { continue; }
        for (var i = 0u; i < 4u; i++) {
            let local_row = r0 + tx + 16u * i;
            if (local_row >= shard.n_rows) { continue; }
            let row = shard.row_start + local_row;
            var v = acc[j * 4u + i];
            if (HAS_BIAS) { v += bias[row]; }
            let o = t * N_OUT + row;
            if (RESIDUAL) { v += y[o]; }
            y[o] = v;
        }
    }
}

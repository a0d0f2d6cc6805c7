// Linear layer over ONE shard of a row-sharded fp16 matrix W [rows, K]:
//   Y[t, row] = X[t, :] · W[row, :]  (+ bias[row])  (+ Y[t, row] if RESIDUAL)
//
// The shard is stored TRANSPOSED, `[K/2 words][n_rows]`: word j of local row r (columns
// 2j, 2j+1 as two fp16) sits at `j * n_rows + r`. One invocation computes one row for a
// tile of tokens, so adjacent invocations (the SIMD lanes of CPU WebGPU implementations
// such as lavapipe) read adjacent weight words, while X[t, 2j..2j+2] is the same for every
// lane. No workgroup memory and no barriers: a barrier costs microseconds on a CPU.
//
// Entry points: `tile8` computes 8 tokens per invocation (prefill; each weight word is
// reused from registers 8 times); `tile1` one token per invocation, or with LAST_TOKEN
// only the chunk's last token, written to output row 0 (decode, and the logits of the
// last token). Workgroups: x (+ z beyond 65535) over rows, y over token tiles.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override K: u32;
override N_OUT: u32;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;
override LAST_TOKEN: bool = false;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
@group(0) @binding(2) var<storage, read> x: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

fn local_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.z * nwg.x) * WG + lid;
}

fn store(t: u32, r: u32, acc: f32) {
    if (t >= step.n_tokens) { return; }
    let row = shard.row_start + r;
    var v = acc;
    if (HAS_BIAS) { v += bias[row]; }
    let o = t * N_OUT + row;
    if (RESIDUAL) { v += y[o]; }
    y[o] = v;
}

@compute @workgroup_size(64)
fn tile1(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let r = local_row(wid, nwg, lid);
    if (r >= shard.n_rows) { return; }
    var t_in = wid.y;
    var t_out = wid.y;
    if (LAST_TOKEN) {
        t_in = step.n_tokens - 1u;
        t_out = 0u;
    }
    if (t_in >= step.n_tokens) { return; }
    let words = K / 2u;
    let xb = t_in * words;
    let n = shard.n_rows;
    var acc = vec2<f32>(0.0);
    var wi = r;
    for (var j = 0u; j < words; j++) {
        acc += unpack2x16float(wt[wi]) * x[xb + j];
        wi += n;
    }
    // Store row 0 of the output for LAST_TOKEN: `store` checks t against n_tokens >= 1.
    store(t_out, r, acc.x + acc.y);
}

@compute @workgroup_size(64)
fn tile8(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let r = local_row(wid, nwg, lid);
    if (r >= shard.n_rows) { return; }
    let t0 = wid.y * 8u;
    let last = step.n_tokens - 1u;
    let words = K / 2u;
    // Tokens past the chunk read the last one (in bounds) and are not stored.
    let b0 = min(t0, last) * words;
    let b1 = min(t0 + 1u, last) * words;
    let b2 = min(t0 + 2u, last) * words;
    let b3 = min(t0 + 3u, last) * words;
    let b4 = min(t0 + 4u, last) * words;
    let b5 = min(t0 + 5u, last) * words;
    let b6 = min(t0 + 6u, last) * words;
    let b7 = min(t0 + 7u, last) * words;
    let n = shard.n_rows;
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    var wi = r;
    for (var j = 0u; j < words; j++) {
        let w = unpack2x16float(wt[wi]);
        wi += n;
        lo += vec4<f32>(dot(w, x[b0 + j]), dot(w, x[b1 + j]), dot(w, x[b2 + j]), dot(w, x[b3 + j]));
        hi += vec4<f32>(dot(w, x[b4 + j]), dot(w, x[b5 + j]), dot(w, x[b6 + j]), dot(w, x[b7 + j]));
    }
    store(t0, r, lo.x);
    store(t0 + 1u, r, lo.y);
    store(t0 + 2u, r, lo.z);
    store(t0 + 3u, r, lo.w);
    store(t0 + 4u, r, hi.x);
    store(t0 + 5u, r, hi.y);
    store(t0 + 6u, r, hi.z);
    store(t0 + 7u, r, hi.w);
}

// Linear layer over ONE shard of a row-sharded fp16 matrix W [rows, K], K a multiple of 4:
//   Y[t, row] = X[t, :] · W[row, :]  (+ bias[row])  (+ Y[t, row] if RESIDUAL)
//
// Weight layout (gpu/weights.rs), in 16-byte chunks of 8 columns (4 words of 2 fp16):
// blocks of 32 rows; chunk c of row i of block b at `(b * CHUNKS + c) * 32 + i`, columns
// zero-padded to CHUNKS * 8. One invocation computes 4 adjacent rows of a block (8
// invocations per block), so for each chunk a block's invocations read 512 contiguous
// bytes and the block streams through memory in order, while X[t, 8c..8c+8] is the same
// for every invocation. No workgroup memory and no barriers: on CPU WebGPU implementations
// (lavapipe, SwiftShader) invocations are SIMD lanes, a barrier costs microseconds, every
// storage load is issued per lane, and strided walks defeat the prefetcher; so loads are
// wide, few per multiply-add, and sequential.
//
// Entry points: `tile8` computes 8 tokens per invocation (prefill: each weight load is
// reused for 8 tokens); `tile1` one token per invocation, or with LAST_TOKEN only the
// chunk's last token, written to output row 0 (decode, and the logits of the last token).
// Workgroups: x (+ z beyond 65535) over pairs of row blocks, y over tiles of tokens.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, col_chunks: u32, pad1: u32 }

override K: u32;
override N_OUT: u32;
override RESIDUAL: bool = false;
override HAS_BIAS: bool = false;
override LAST_TOKEN: bool = false;

const WG: u32 = 16u;
const ROW_BLOCK: u32 = 32u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> wt: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;

/// Where this invocation's rows are: .x the first local row, .y the chunk index of
/// (its first row, chunk 0).
fn rows_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec2<u32> {
    let g = (wid.x + wid.z * nwg.x) * WG + lid;
    let block = g / 8u;
    let lane = g % 8u;
    return vec2<u32>(block * ROW_BLOCK + 4u * lane, block * shard.col_chunks * ROW_BLOCK + 4u * lane);
}

fn store1(t: u32, r: u32, acc: f32) {
    if (r >= shard.n_rows) { return; }
    let row = shard.row_start + r;
    var v = acc;
    if (HAS_BIAS) { v += bias[row]; }
    let o = t * N_OUT + row;
    if (RESIDUAL) { v += y[o]; }
    y[o] = v;
}

/// Stores the 4 rows from r0 of token t (nothing past the chunk or the shard).
fn store4(t: u32, r0: u32, acc: vec4<f32>) {
    if (t >= step.n_tokens) { return; }
    store1(t, r0, acc.x);
    store1(t, r0 + 1u, acc.y);
    store1(t, r0 + 2u, acc.z);
    store1(t, r0 + 3u, acc.w);
}

/// Columns 0..4 and 4..8 of a chunk.
fn lo(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn hi(w: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)); }

@compute @workgroup_size(16)
fn tile1(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let at = rows_of(wid, nwg, lid);
    let r0 = at.x;
    if (r0 >= shard.n_rows) { return; }
    var t_in = wid.y;
    var t_out = wid.y;
    if (LAST_TOKEN) {
        t_in = step.n_tokens - 1u;
        t_out = 0u;
    }
    if (t_in >= step.n_tokens) { return; }
    let xb = t_in * (K / 4u);
    var acc = vec4<f32>(0.0);
    var wi = at.y;
    for (var c = 0u; c < K / 8u; c++) {
        let a = x[xb + 2u * c];
        let b = x[xb + 2u * c + 1u];
        let w0 = wt[wi];
        let w1 = wt[wi + 1u];
        let w2 = wt[wi + 2u];
        let w3 = wt[wi + 3u];
        acc += vec4<f32>(dot(lo(w0), a), dot(lo(w1), a), dot(lo(w2), a), dot(lo(w3), a))
             + vec4<f32>(dot(hi(w0), b), dot(hi(w1), b), dot(hi(w2), b), dot(hi(w3), b));
        wi += ROW_BLOCK;
    }
    if (K % 8u != 0u) {
        // The last 4 columns: the low half of the last chunk (its high half is padding).
        let a = x[xb + K / 4u - 1u];
        acc += vec4<f32>(dot(lo(wt[wi]), a), dot(lo(wt[wi + 1u]), a), dot(lo(wt[wi + 2u]), a),
                         dot(lo(wt[wi + 3u]), a));
    }
    store4(t_out, r0, acc);
}

/// The contribution of one chunk (columns as lo/hi halves of 4 rows) for one token.
fn chunk4(l0: vec4<f32>, l1: vec4<f32>, l2: vec4<f32>, l3: vec4<f32>,
          h0: vec4<f32>, h1: vec4<f32>, h2: vec4<f32>, h3: vec4<f32>,
          a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot(l0, a), dot(l1, a), dot(l2, a), dot(l3, a))
         + vec4<f32>(dot(h0, b), dot(h1, b), dot(h2, b), dot(h3, b));
}

@compute @workgroup_size(16)
fn tile8(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let at = rows_of(wid, nwg, lid);
    let r0 = at.x;
    if (r0 >= shard.n_rows) { return; }
    let t0 = wid.y * 8u;
    let last = step.n_tokens - 1u;
    let k4 = K / 4u;
    // Tokens past the chunk read the last one (in bounds) and are not stored.
    let b0 = min(t0, last) * k4;
    let b1 = min(t0 + 1u, last) * k4;
    let b2 = min(t0 + 2u, last) * k4;
    let b3 = min(t0 + 3u, last) * k4;
    let b4 = min(t0 + 4u, last) * k4;
    let b5 = min(t0 + 5u, last) * k4;
    let b6 = min(t0 + 6u, last) * k4;
    let b7 = min(t0 + 7u, last) * k4;
    // acc_t: the 4 rows of token t0 + t.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    var wi = at.y;
    // Full chunks, then (K % 8 == 4) the last chunk's low half with zero high inputs.
    let chunks = (K + 7u) / 8u;
    for (var c = 0u; c < chunks; c++) {
        let w0 = wt[wi];
        let w1 = wt[wi + 1u];
        let w2 = wt[wi + 2u];
        let w3 = wt[wi + 3u];
        wi += ROW_BLOCK;
        let l0 = lo(w0);
        let l1 = lo(w1);
        let l2 = lo(w2);
        let l3 = lo(w3);
        let h0 = hi(w0);
        let h1 = hi(w1);
        let h2 = hi(w2);
        let h3 = hi(w3);
        let i = 2u * c;
        let full = 2u * c + 1u < k4;
        let j = select(i, i + 1u, full);
        let z = select(vec4<f32>(0.0), vec4<f32>(1.0), full);
        acc0 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b0 + i], x[b0 + j] * z);
        acc1 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b1 + i], x[b1 + j] * z);
        acc2 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b2 + i], x[b2 + j] * z);
        acc3 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b3 + i], x[b3 + j] * z);
        acc4 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b4 + i], x[b4 + j] * z);
        acc5 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b5 + i], x[b5 + j] * z);
        acc6 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b6 + i], x[b6 + j] * z);
        acc7 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, x[b7 + i], x[b7 + j] * z);
    }
    store4(t0, r0, acc0);
    store4(t0 + 1u, r0, acc1);
    store4(t0 + 2u, r0, acc2);
    store4(t0 + 3u, r0, acc3);
    store4(t0 + 4u, r0, acc4);
    store4(t0 + 5u, r0, acc5);
    store4(t0 + 6u, r0, acc6);
    store4(t0 + 7u, r0, acc7);
}

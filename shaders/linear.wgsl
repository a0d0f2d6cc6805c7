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
// Entry points: `tile8` computes 8 rows × 8 tokens per invocation (prefill: each weight
// load is reused for 8 tokens, each input load for 8 rows); `tile1` 4 rows of one token, or with LAST_TOKEN only the
// chunk's last token, written to output row 0 (decode, and the logits of the last token).
// Workgroups: x (+ z beyond 65535) over pairs of row blocks (64 rows), y over tiles of
// tokens.

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

// 8 rows (the same lanes of two adjacent blocks) × 8 tokens per invocation: each x load
// serves 8 rows and each weight load 8 tokens. A workgroup of 8 covers the same 64 rows
// as a `tile1` workgroup of 16.
@compute @workgroup_size(8)
fn tile8(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let pair = wid.x + wid.z * nwg.x;
    let ra = pair * 2u * ROW_BLOCK + 4u * lid;
    if (ra >= shard.n_rows) { return; }
    let rb = ra + ROW_BLOCK;
    let block_chunks = shard.col_chunks * ROW_BLOCK;
    var wa = pair * 2u * block_chunks + 4u * lid;
    // Without a second block (the shard ends), read the first again; nothing is stored.
    var wb = select(wa, wa + block_chunks, rb < shard.n_rows);
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
    // a_t / b_t: the 4 rows from ra / rb of token t0 + t.
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0);
    var a5 = vec4<f32>(0.0);
    var a6 = vec4<f32>(0.0);
    var a7 = vec4<f32>(0.0);
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0);
    var c5 = vec4<f32>(0.0);
    var c6 = vec4<f32>(0.0);
    var c7 = vec4<f32>(0.0);
    // Full chunks, then (K % 8 == 4) the last chunk's low half with zero high inputs.
    let chunks = (K + 7u) / 8u;
    for (var c = 0u; c < chunks; c++) {
        let u0 = wt[wa];
        let u1 = wt[wa + 1u];
        let u2 = wt[wa + 2u];
        let u3 = wt[wa + 3u];
        let v0 = wt[wb];
        let v1 = wt[wb + 1u];
        let v2 = wt[wb + 2u];
        let v3 = wt[wb + 3u];
        wa += ROW_BLOCK;
        wb += ROW_BLOCK;
        let l0 = lo(u0);
        let l1 = lo(u1);
        let l2 = lo(u2);
        let l3 = lo(u3);
        let h0 = hi(u0);
        let h1 = hi(u1);
        let h2 = hi(u2);
        let h3 = hi(u3);
        let m0 = lo(v0);
        let m1 = lo(v1);
        let m2 = lo(v2);
        let m3 = lo(v3);
        let n0 = hi(v0);
        let n1 = hi(v1);
        let n2 = hi(v2);
        let n3 = hi(v3);
        let i = 2u * c;
        let full = 2u * c + 1u < k4;
        let j = select(i, i + 1u, full);
        let z = select(vec4<f32>(0.0), vec4<f32>(1.0), full);
        var p = x[b0 + i];
        var q = x[b0 + j] * z;
        a0 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c0 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b1 + i];
        q = x[b1 + j] * z;
        a1 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c1 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b2 + i];
        q = x[b2 + j] * z;
        a2 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c2 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b3 + i];
        q = x[b3 + j] * z;
        a3 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c3 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b4 + i];
        q = x[b4 + j] * z;
        a4 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c4 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b5 + i];
        q = x[b5 + j] * z;
        a5 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c5 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b6 + i];
        q = x[b6 + j] * z;
        a6 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c6 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
        p = x[b7 + i];
        q = x[b7 + j] * z;
        a7 += chunk4(l0, l1, l2, l3, h0, h1, h2, h3, p, q);
        c7 += chunk4(m0, m1, m2, m3, n0, n1, n2, n3, p, q);
    }
    store4(t0, ra, a0);
    store4(t0 + 1u, ra, a1);
    store4(t0 + 2u, ra, a2);
    store4(t0 + 3u, ra, a3);
    store4(t0 + 4u, ra, a4);
    store4(t0 + 5u, ra, a5);
    store4(t0 + 6u, ra, a6);
    store4(t0 + 7u, ra, a7);
    store4(t0, rb, c0);
    store4(t0 + 1u, rb, c1);
    store4(t0 + 2u, rb, c2);
    store4(t0 + 3u, rb, c3);
    store4(t0 + 4u, rb, c4);
    store4(t0 + 5u, rb, c5);
    store4(t0 + 6u, rb, c6);
    store4(t0 + 7u, rb, c7);
}

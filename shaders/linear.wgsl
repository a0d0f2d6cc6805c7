// Linear layer over ONE shard of a tile-sharded weight matrix W in any GPU weight format
// (gpu/formats.rs; the format's decode snippet is included below), with an epilogue that
// stores the results (shaders/epilogue/: plain rows with bias and residual add, SwiGLU of
// gate|up pairs, or rope and the KV store of Q|K|V pairs):
//   acc[t, r] = X[t, :] · W[r, :]
//
// Layout (gpu/weights.rs): blocks of ROW_BLOCK = 16 rows; word j of group g of row i of
// block b at ((b * n_groups + g) * WORDS + j) * ROW_BLOCK + i. A tile is two blocks (32
// rows); row r of tile w is row r % 16 of block 2w + r / 16. Invocations
// take rows lid, lid + LANES, ..., so each weight load of a subgroup reads consecutive
// words and a block streams through memory in order, while X[t, 8u..8u+8] is the same for
// every invocation (one broadcast load). In a paired product, rows r and r + 16 of a tile
// are the two rows of pair 16w + r, and they land in the same invocation.
// No workgroup memory and no barriers (except `splitk`, the GPU shape): on CPU WebGPU
// implementations (lavapipe, SwiftShader) invocations are SIMD lanes, a barrier costs
// microseconds and every storage load is issued per lane; so loads are few per
// multiply-add and sequential.
//
// Entry points, the CPU adapters' three taking two tiles per workgroup so that each input
// load serves more rows: `tile8` computes 8 rows × 8 tokens per invocation (prefill: each
// decoded weight serves 8 tokens); `quad1` 8 rows of one token, or with LAST_TOKEN only
// the chunk's last token, written to output row 0 (decode, and the logits of the last
// token), 4 consecutive rows read per vector load (the weights bound as vec4<u32>:
// `WeightView::Quads`); `tile1` the same with one row per load (kept for comparisons:
// `HEARTH_QUADS=0`); `splitk` one tile of one token split over K (GPUs).
// Workgroups: x (+ z beyond 65535) over tiles or pairs of tiles (gpu/kernels/linear.rs
// `tiles_per_workgroup`), y over tiles of tokens.
//
// The input x is bound as storage (every token's row), or for a one-token step on a CPU
// adapter (`quad1`, `tile1`) as a uniform holding row 0 only: every invocation reads the
// same input vectors, and a uniform load is one broadcast where lavapipe issues a storage
// load lane by lane, each with its own bounds check.
//
// With NORM (`tile1`, `splitk`), X is the residual stream and the product is of its
// RMSNorm: X[t] / rms(X[t]) * norm_w. Every invocation reads all of X[t] anyway, so it
// sums the squares beside the dot products and scales its sums at the end,
//   acc = (W · (X[t] ∘ norm_w)) / sqrt(mean(X[t]²) + EPS),
// which saves the norm's dispatch and the write and read of the normed row. The model
// asks for it on GPUs only (`splitk`): on CPU adapters the extra loads of every `tile1`
// invocation cost more than the dispatch.

#include quant

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }
struct Shard { row_start: u32, n_rows: u32, n_groups: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> shard: Shard;
#include input
#include weights
@group(0) @binding(4) var<storage, read> norm_w: array<vec4<f32>>;

#include epilogue

override K: u32;
override LAST_TOKEN: bool = false;
override NORM: bool = false;
override EPS: f32 = 1e-5;

const ROW_TILE: u32 = 2u * ROW_BLOCK;
/// Units (rows, or pairs) per tile.
const TILE_UNITS: u32 = select(ROW_TILE, ROW_BLOCK, PAIRED);
const LANES: u32 = ROW_TILE / 4u;

/// The token whose inputs the workgroups of token row y read: their own, or with LAST_TOKEN
/// the chunk's last.
fn token_in(y: u32) -> u32 { return select(y, step.n_tokens - 1u, LAST_TOKEN); }

/// The output row those workgroups write: their own, or with LAST_TOKEN row 0.
fn token_out(y: u32) -> u32 { return select(y, 0u, LAST_TOKEN); }

/// Index of word 0 of group 0 of row r (< 32) of tile `tile`.
fn row_base(tile: u32, r: u32) -> u32 {
    return (2u * tile + r / ROW_BLOCK) * shard.n_groups * WORDS * ROW_BLOCK + r % ROW_BLOCK;
}

fn dot8(p: Pair, a: vec4<f32>, b: vec4<f32>) -> f32 { return dot(p.lo, a) + dot(p.hi, b); }

/// Input vectors j and j + 1 of token t, times the norm weight with NORM (when their
/// squares are added to `ss`).
fn inputs8(t: u32, j: u32, ss: ptr<function, f32>) -> Pair {
    let a = x[t * (K / 4u) + j];
    let b = x[t * (K / 4u) + j + 1u];
    if (!NORM) { return Pair(a, b); }
    *ss += dot(a, a) + dot(b, b);
    return Pair(a * norm_w[j], b * norm_w[j + 1u]);
}

/// The inputs of columns 32 j / 8.. of token t, as `inputs8`.
fn inputs32(t: u32, j: u32, ss: ptr<function, f32>) -> X32 {
    let p0 = inputs8(t, j, ss);
    let p1 = inputs8(t, j + 2u, ss);
    let p2 = inputs8(t, j + 4u, ss);
    let p3 = inputs8(t, j + 6u, ss);
    return x32(p0.lo, p0.hi, p1.lo, p1.hi, p2.lo, p2.hi, p3.lo, p3.hi);
}

/// What the sums are multiplied by: the norm's scale 1 / rms(X[t]) with NORM, given the
/// sum of squares `ss`.
fn norm_scale(ss: f32) -> f32 {
    if (!NORM) { return 1.0; }
    return 1.0 / sqrt(ss / f32(K) + EPS);
}

/// Stores rows r, r + 8, r + 16, r + 24 of a tile for token t (pairs (r, r + 16) and
/// (r + 8, r + 24) in a paired product).
fn store4(t: u32, tile: u32, r: u32, acc: vec4<f32>) {
    if (t >= step.n_tokens) { return; }
    if (PAIRED) {
        store_pair(t, tile * ROW_BLOCK + r, acc.x, acc.z);
        store_pair(t, tile * ROW_BLOCK + r + LANES, acc.y, acc.w);
    } else {
        store_row(t, tile * ROW_TILE + r, acc.x);
        store_row(t, tile * ROW_TILE + r + LANES, acc.y);
        store_row(t, tile * ROW_TILE + r + 2u * LANES, acc.z);
        store_row(t, tile * ROW_TILE + r + 3u * LANES, acc.w);
    }
}

/// The contribution of 8 columns (decoded for 4 rows) for one token's inputs a, b.
fn rows4(p0: Pair, p1: Pair, p2: Pair, p3: Pair, a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(dot8(p0, a, b), dot8(p1, a, b), dot8(p2, a, b), dot8(p3, a, b));
}

// One token: a workgroup of 8 invocations takes two tiles; invocation l computes rows l,
// l + 8, l + 16, l + 24 of each (the last two in the tile's second block), so every input
// load serves 8 rows.
const TILE1_LANES: u32 = 8u;

/// The 4 rows of a tile whose row `lid` starts at word `wi`, with the second block `second`
/// words on.
fn tile1_rows(wi: u32, second: u32, s: u32, xs: X32) -> vec4<f32> {
    let l = TILE1_LANES;
    return vec4<f32>(sub_dot(wi, s, xs), sub_dot(wi + l, s, xs), sub_dot(wi + 2u * l + second, s, xs),
                     sub_dot(wi + 3u * l + second, s, xs));
}

/// Stores an invocation's 4 rows of one tile.
fn store_tile1(t: u32, tile: u32, lid: u32, acc: vec4<f32>) {
    let l = TILE1_LANES;
    if (PAIRED) {
        // Row i pairs with the same row of the other block (i + 2 of the invocation's).
        let p = tile * ROW_BLOCK + lid;
        store_pair(t, p, acc.x, acc.z);
        store_pair(t, p + l, acc.y, acc.w);
    } else {
        let o = tile * ROW_TILE + lid;
        store_row(t, o, acc.x);
        store_row(t, o + l, acc.y);
        store_row(t, o + 2u * l, acc.z);
        store_row(t, o + 3u * l, acc.w);
    }
}

@compute @workgroup_size(TILE1_LANES)
fn tile1(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    // No early return: rows past the shard (zero padding) are computed, not stored, so the
    // lanes of a subgroup stay active together.
    let ta = 2u * (wid.x + wid.z * nwg.x);
    // Where the shard ends, the second tile is the first again, read but not stored.
    let has_b = (ta + 1u) * TILE_UNITS < shard.n_rows;
    let tb = select(ta, ta + 1u, has_b);
    let t_in = token_in(wid.y);
    let t_out = token_out(wid.y);
    let base_a = row_base(ta, lid);
    let base_b = row_base(tb, lid);
    // Rows lid + 16 and lid + 24 are in the second block.
    let second = shard.n_groups * WORDS * ROW_BLOCK - ROW_BLOCK;
    var xi = 0u;
    var ss = 0.0;
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    // One flat loop over 32-column sub-blocks (a nested loop over groups and sub-blocks is
    // slower on SwiftShader).
    let subs = GROUP / 32u;
    for (var sb = 0u; sb < shard.n_groups * subs; sb++) {
        let off = (sb / subs) * WORDS * ROW_BLOCK;
        let s = sb % subs;
        let xs = inputs32(t_in, xi, &ss);
        xi += 8u;
        a += tile1_rows(base_a + off, second, s, xs);
        b += tile1_rows(base_b + off, second, s, xs);
    }
    if (t_in >= step.n_tokens) { return; }
    let scale = norm_scale(ss);
    store_tile1(t_out, ta, lid, a * scale);
    if (has_b) { store_tile1(t_out, tb, lid, b * scale); }
}

/// Sub-block sb (32 columns) of quad1's rows of token t: rows 4q.. of the blocks whose
/// word 0 is at vec4 index base0 and base1.
fn quad1_sub(sb: u32, t: u32, base0: u32, base1: u32, ss: ptr<function, f32>,
             acc0: ptr<function, vec4<f32>>, acc1: ptr<function, vec4<f32>>) {
    let subs = GROUP / 32u;
    let off = (sb / subs) * WORDS * (ROW_BLOCK / 4u);
    let xs = inputs32(t, 8u * sb, ss);
    *acc0 += sub_dot4(base0 + off, sb % subs, xs);
    *acc1 += sub_dot4(base1 + off, sb % subs, xs);
}

// One token, 8 lanes, the weights read 4 rows at a time: lanes 0..4 take tile
// ta, lanes 4..8 tile tb; lane q (mod 4) computes rows 4q..4q+4 of both blocks of its
// tile, so the 4 rows' word j is one aligned vec4 (`word4`), and a pair's two rows (one
// in each block) meet in one invocation. lavapipe issues every storage load lane by lane
// with a bounds check, so a vec4 load costs about a third of four u32 loads per word.
// On SwiftShader (4-lane subgroups) a workgroup is two subgroups; SmolLM2 loads there in
// 5.9 s instead of 7.8 s with a `tile1` sized for 4 lanes (8 rows per invocation), at the
// same decode speed.
@compute @workgroup_size(8)
fn quad1(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let ta = 2u * (wid.x + wid.z * nwg.x);
    // Where the shard ends, lanes 4..8 compute the first tile again and do not store it.
    let has_b = (ta + 1u) * TILE_UNITS < shard.n_rows;
    let stores = lid < 4u || has_b;
    let tile = select(ta, ta + 1u, lid >= 4u && has_b);
    let q = lid % 4u;
    let t_in = token_in(wid.y);
    let t_out = token_out(wid.y);
    // vec4 indices of word 0 of group 0 of rows 4q.. of the tile's first and second block.
    let block_quads = shard.n_groups * WORDS * (ROW_BLOCK / 4u);
    let base0 = 2u * tile * block_quads + q;
    let base1 = base0 + block_quads;
    var ss = 0.0;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    // quad1_sub for every sub-block (gpu/kernels/linear.rs `InputBinding::sub_blocks`).
#include sub_blocks
    if (t_in >= step.n_tokens || !stores) { return; }
    let scale = norm_scale(ss);
    acc0 *= scale;
    acc1 *= scale;
    if (PAIRED) {
        let p = tile * ROW_BLOCK + 4u * q;
        store_pair(t_out, p, acc0.x, acc1.x);
        store_pair(t_out, p + 1u, acc0.y, acc1.y);
        store_pair(t_out, p + 2u, acc0.z, acc1.z);
        store_pair(t_out, p + 3u, acc0.w, acc1.w);
    } else {
        let o = tile * ROW_TILE + 4u * q;
        store_row(t_out, o, acc0.x);
        store_row(t_out, o + 1u, acc0.y);
        store_row(t_out, o + 2u, acc0.z);
        store_row(t_out, o + 3u, acc0.w);
        store_row(t_out, o + ROW_BLOCK, acc1.x);
        store_row(t_out, o + ROW_BLOCK + 1u, acc1.y);
        store_row(t_out, o + ROW_BLOCK + 2u, acc1.z);
        store_row(t_out, o + ROW_BLOCK + 3u, acc1.w);
    }
}

// Prefill: two tiles per workgroup, so that each invocation computes 8 rows (4 of each
// tile) × 8 tokens: each decoded weight serves 8 tokens and each input load 8 rows (input
// loads are as many as weight loads on CPU adapters otherwise).
@compute @workgroup_size(LANES)
fn tile8(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let ta = 2u * (wid.x + wid.z * nwg.x);
    if (ta * TILE_UNITS + lid >= shard.n_rows) { return; }
    // Where the shard ends, the second tile is the first again, read but not stored.
    let has_b = (ta + 1u) * TILE_UNITS + lid < shard.n_rows;
    let tb = select(ta, ta + 1u, has_b);
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
    // a_t / c_t: the 4 rows of tile ta / tb of token t0 + t.
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
    let stride = WORDS * ROW_BLOCK;
    // Rows lid, lid + 8 of each tile's first block; lid, lid + 8 of its second.
    var w0 = row_base(ta, lid);
    var w2 = row_base(ta, lid + ROW_BLOCK);
    var v0 = row_base(tb, lid);
    var v2 = row_base(tb, lid + ROW_BLOCK);
    var xi = 0u;
    for (var g = 0u; g < shard.n_groups; g++) {
        let w1 = w0 + LANES;
        let w3 = w2 + LANES;
        let v1 = v0 + LANES;
        let v3 = v2 + LANES;
        for (var s = 0u; s < GROUP / 32u; s++) {
            let h0 = sub_head(w0, s);
            let h1 = sub_head(w1, s);
            let h2 = sub_head(w2, s);
            let h3 = sub_head(w3, s);
            let e0 = sub_head(v0, s);
            let e1 = sub_head(v1, s);
            let e2 = sub_head(v2, s);
            let e3 = sub_head(v3, s);
            for (var u = 4u * s; u < 4u * s + 4u; u++) {
                let p0 = decode8(w0, h0, u);
                let p1 = decode8(w1, h1, u);
                let p2 = decode8(w2, h2, u);
                let p3 = decode8(w3, h3, u);
                let q0 = decode8(v0, e0, u);
                let q1 = decode8(v1, e1, u);
                let q2 = decode8(v2, e2, u);
                let q3 = decode8(v3, e3, u);
                var p = x[b0 + xi];
                var q = x[b0 + xi + 1u];
                a0 += rows4(p0, p1, p2, p3, p, q);
                c0 += rows4(q0, q1, q2, q3, p, q);
                p = x[b1 + xi];
                q = x[b1 + xi + 1u];
                a1 += rows4(p0, p1, p2, p3, p, q);
                c1 += rows4(q0, q1, q2, q3, p, q);
                p = x[b2 + xi];
                q = x[b2 + xi + 1u];
                a2 += rows4(p0, p1, p2, p3, p, q);
                c2 += rows4(q0, q1, q2, q3, p, q);
                p = x[b3 + xi];
                q = x[b3 + xi + 1u];
                a3 += rows4(p0, p1, p2, p3, p, q);
                c3 += rows4(q0, q1, q2, q3, p, q);
                p = x[b4 + xi];
                q = x[b4 + xi + 1u];
                a4 += rows4(p0, p1, p2, p3, p, q);
                c4 += rows4(q0, q1, q2, q3, p, q);
                p = x[b5 + xi];
                q = x[b5 + xi + 1u];
                a5 += rows4(p0, p1, p2, p3, p, q);
                c5 += rows4(q0, q1, q2, q3, p, q);
                p = x[b6 + xi];
                q = x[b6 + xi + 1u];
                a6 += rows4(p0, p1, p2, p3, p, q);
                c6 += rows4(q0, q1, q2, q3, p, q);
                p = x[b7 + xi];
                q = x[b7 + xi + 1u];
                a7 += rows4(p0, p1, p2, p3, p, q);
                c7 += rows4(q0, q1, q2, q3, p, q);
                xi += 2u;
            }
        }
        w0 += stride;
        w2 += stride;
        v0 += stride;
        v2 += stride;
    }
    store4(t0, ta, lid, a0);
    store4(t0 + 1u, ta, lid, a1);
    store4(t0 + 2u, ta, lid, a2);
    store4(t0 + 3u, ta, lid, a3);
    store4(t0 + 4u, ta, lid, a4);
    store4(t0 + 5u, ta, lid, a5);
    store4(t0 + 6u, ta, lid, a6);
    store4(t0 + 7u, ta, lid, a7);
    if (!has_b) { return; }
    store4(t0, tb, lid, c0);
    store4(t0 + 1u, tb, lid, c1);
    store4(t0 + 2u, tb, lid, c2);
    store4(t0 + 3u, tb, lid, c3);
    store4(t0 + 4u, tb, lid, c4);
    store4(t0 + 5u, tb, lid, c5);
    store4(t0 + 6u, tb, lid, c6);
    store4(t0 + 7u, tb, lid, c7);
}

// The GPU shape of `tile1` (decode): a workgroup of ROW_TILE × SPLIT invocations takes one
// tile; invocation (i, s) sums row i over groups s, s + SPLIT, ..., so the invocations of
// a slice read consecutive words (coalesced), and the SPLIT partial sums of a row are
// added in workgroup memory (where a pair's two rows meet).
const SPLIT: u32 = 8u;
var<workgroup> partial: array<f32, ROW_TILE * SPLIT>;
/// With NORM: the sum of squares of each slice's inputs.
var<workgroup> partial_ss: array<f32, SPLIT>;

@compute @workgroup_size(ROW_TILE, SPLIT)
fn splitk(@builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = wid.x + wid.z * nwg.x;
    let i = lid.x;
    let t_in = token_in(wid.y);
    let t_out = token_out(wid.y);
    // Uniform per workgroup, so returning before the barrier is allowed.
    if (t_in >= step.n_tokens || tile * TILE_UNITS >= shard.n_rows) { return; }
    let stride = WORDS * ROW_BLOCK;
    let base = row_base(tile, i);
    var acc = 0.0;
    var ss = 0.0;
    // Padded rows of the last tile hold zeros: they are summed but never stored.
    for (var g = lid.y; g < shard.n_groups; g += SPLIT) {
        let wi = base + g * stride;
        var xi = g * (GROUP / 4u);
        for (var s = 0u; s < GROUP / 32u; s++) {
            let h = sub_head(wi, s);
            for (var u = 4u * s; u < 4u * s + 4u; u++) {
                let xs = inputs8(t_in, xi, &ss);
                acc += dot8(decode8(wi, h, u), xs.lo, xs.hi);
                xi += 2u;
            }
        }
    }
    partial[lid.y * ROW_TILE + i] = acc;
    if (NORM && i == 0u) { partial_ss[lid.y] = ss; }
    workgroupBarrier();
    if (lid.y != 0u) { return; }
    var sum = 0.0;
    var sum_ss = 0.0;
    for (var s = 0u; s < SPLIT; s++) {
        sum += partial[s * ROW_TILE + i];
        if (NORM) { sum_ss += partial_ss[s]; }
    }
    let scale = norm_scale(sum_ss);
    if (!PAIRED) {
        store_row(t_out, tile * ROW_TILE + i, sum * scale);
    } else if (i < ROW_BLOCK) {
        var partner = 0.0;
        for (var s = 0u; s < SPLIT; s++) { partner += partial[s * ROW_TILE + i + ROW_BLOCK]; }
        store_pair(t_out, tile * ROW_BLOCK + i, sum * scale, partner * scale);
    }
}

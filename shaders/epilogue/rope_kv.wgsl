// Epilogue of the stacked Q|K|V product: adds the bias, rotates Q and K (rotary position
// embedding) and stores K and V into the layer's KV cache, so no pass reads the product
// again. Pairs (gpu/weights.rs, RowMap):
//   Q and K: pair h·HALF + k of head h is the two rows rope rotates together:
//            (k, k + HALF), or (2k, 2k + 1) when PAIRWISE (GGUF llama-arch layout);
//   V:       pair 16m + i is rows 32m + i and 32m + 16 + i (no rotation).
// Token t sits at position pos + t; cos/sin come from a table [n_ctx, HEAD_DIM / 2].
// Q goes to q [n_tokens, Q_DIM]; rotated K and V to the caches [n_ctx, KV_DIM].

const PAIRED: bool = true;

override N_HEAD: u32;
override N_HEAD_KV: u32;
override HEAD_DIM: u32;
override PAIRWISE: bool = true;
override HAS_BIAS: bool = false;

@group(0) @binding(5) var<storage, read_write> q: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(9) var<storage, read_write> v_cache: array<f32>;

fn store_row(t: u32, r: u32, acc: f32) {}

fn store_pair(t: u32, lp: u32, a0: f32, b0: f32) {
    if (lp >= shard.n_rows) { return; }
    let p = shard.row_start + lp;
    let half = HEAD_DIM / 2u;
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_HEAD_KV * HEAD_DIM;
    let rotated = (N_HEAD + N_HEAD_KV) * half;
    let pos = step.pos + t;
    // Rows ia, ib of the stacked [Q; K; V] product that this pair holds.
    var ia: u32;
    var ib: u32;
    var k = 0u;
    if (p < rotated) {
        let h = p / half;
        k = p % half;
        if (PAIRWISE) {
            ia = h * HEAD_DIM + 2u * k;
            ib = ia + 1u;
        } else {
            ia = h * HEAD_DIM + k;
            ib = ia + half;
        }
    } else {
        let j = p - rotated;
        ia = q_dim + kv_dim + (j / 16u) * 32u + j % 16u;
        ib = ia + 16u;
    }
    var a = a0;
    var b = b0;
    if (HAS_BIAS) {
        a += bias[ia];
        b += bias[ib];
    }
    if (p >= rotated) {
        let o = pos * kv_dim;
        v_cache[o + ia - q_dim - kv_dim] = a;
        v_cache[o + ib - q_dim - kv_dim] = b;
        return;
    }
    let cs = cos_sin[pos * half + k];
    let ra = a * cs.x - b * cs.y;
    let rb = a * cs.y + b * cs.x;
    if (ia < q_dim) {
        q[t * q_dim + ia] = ra;
        q[t * q_dim + ib] = rb;
    } else {
        let o = pos * kv_dim;
        k_cache[o + ia - q_dim] = ra;
        k_cache[o + ib - q_dim] = rb;
    }
}

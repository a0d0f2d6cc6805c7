// Rotary position embedding of Q and K, and the store of K and V into the layer's KV
// cache, for the n_tokens rows of a stacked QKV buffer [n_tokens, (N_HEAD + 2 N_HEAD_KV)
// HEAD_DIM] at positions pos..pos+n-1. One workgroup per token.
// Rotated Q goes to q [n_tokens, Q_DIM]; rotated K and plain V to the caches [n_ctx, KV_DIM].
// (Used when the Q|K|V product cannot do this in its epilogue: head_dim not a multiple of
// 32, or query and key heads are normalized first.)
// PAIRWISE: rotate (2i, 2i+1) — GGUF llama-arch layout (its converter permuted Q/K rows);
// otherwise rotate (i, i + HEAD_DIM/2) — Hugging Face / GGUF qwen2 ("NEOX") layout.
// cos/sin come from a table [n_ctx, HEAD_DIM/2] computed once on the CPU in f64.
// main_qk_norm (Qwen3) first RMS-normalizes each query and key head with the weights
// qk_norm [2 HEAD_DIM] (the query heads' vector, then the key heads'); one invocation per
// head, so that the head's sum of squares needs no barrier.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override N_HEAD: u32;
override N_HEAD_KV: u32;
override HEAD_DIM: u32;
override PAIRWISE: bool = true;
override EPS: f32 = 1e-6;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> q: array<f32>;
@group(0) @binding(6) var<storage, read> qk_norm: array<f32>;

// Offsets of the k-th pair of a head, within the head.
fn pair(k: u32) -> vec2<u32> {
    if (PAIRWISE) {
        return vec2<u32>(2u * k, 2u * k + 1u);
    }
    return vec2<u32>(k, k + HEAD_DIM / 2u);
}

// Rotates the pair (a, b) at `at` (offsets in head h of token t) by (cos, sin) and stores it
// in q (query heads) or the K cache at position p.
fn store_rotated(t: u32, p: u32, h: u32, at: vec2<u32>, a: f32, b: f32, cs: vec2<f32>) {
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_HEAD_KV * HEAD_DIM;
    let ra = a * cs.x - b * cs.y;
    let rb = a * cs.y + b * cs.x;
    if (h < N_HEAD) {
        q[t * q_dim + h * HEAD_DIM + at.x] = ra;
        q[t * q_dim + h * HEAD_DIM + at.y] = rb;
    } else {
        let head = (h - N_HEAD) * HEAD_DIM;
        k_cache[p * kv_dim + head + at.x] = ra;
        k_cache[p * kv_dim + head + at.y] = rb;
    }
}

fn store_v(t: u32, p: u32, tid: u32) {
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_HEAD_KV * HEAD_DIM;
    let base = t * (q_dim + 2u * kv_dim);
    for (var i = tid; i < kv_dim; i += WG) {
        v_cache[p * kv_dim + i] = qkv[base + q_dim + kv_dim + i];
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    let p = step.pos + t;
    let half_dim = HEAD_DIM / 2u;
    let base = t * (N_HEAD + 2u * N_HEAD_KV) * HEAD_DIM;
    let n_pairs = (N_HEAD + N_HEAD_KV) * half_dim;
    for (var i = tid; i < n_pairs; i += WG) {
        let h = i / half_dim;
        let k = i % half_dim;
        let at = pair(k);
        let head = base + h * HEAD_DIM;
        store_rotated(t, p, h, at, qkv[head + at.x], qkv[head + at.y], cos_sin[p * half_dim + k]);
    }
    store_v(t, p, tid);
}

@compute @workgroup_size(64)
fn main_qk_norm(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    let p = step.pos + t;
    let half_dim = HEAD_DIM / 2u;
    let base = t * (N_HEAD + 2u * N_HEAD_KV) * HEAD_DIM;
    for (var h = tid; h < N_HEAD + N_HEAD_KV; h += WG) {
        let head = base + h * HEAD_DIM;
        var ss = 0.0;
        for (var i = 0u; i < HEAD_DIM; i++) {
            let v = qkv[head + i];
            ss += v * v;
        }
        let scale = 1.0 / sqrt(ss / f32(HEAD_DIM) + EPS);
        let w = select(HEAD_DIM, 0u, h < N_HEAD);
        for (var k = 0u; k < half_dim; k++) {
            let at = pair(k);
            let a = qkv[head + at.x] * scale * qk_norm[w + at.x];
            let b = qkv[head + at.y] * scale * qk_norm[w + at.y];
            store_rotated(t, p, h, at, a, b, cos_sin[p * half_dim + k]);
        }
    }
    store_v(t, p, tid);
}

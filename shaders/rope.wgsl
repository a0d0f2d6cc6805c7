// Rotary position embedding of Q and K, and the store of K and V into the layer's KV
// cache, for the n_tokens rows of a stacked QKV buffer [n_tokens, (N_HEAD + 2 N_HEAD_KV)
// HEAD_DIM] at positions pos..pos+n-1. One workgroup per token.
// Rotated Q goes to q [n_tokens, Q_DIM]; rotated K and plain V to the caches [n_ctx, KV_DIM].
// (Used when the Q|K|V product cannot do this in its epilogue: head_dim not a multiple of 32.)
// PAIRWISE: rotate (2i, 2i+1) — GGUF llama-arch layout (its converter permuted Q/K rows);
// otherwise rotate (i, i + HEAD_DIM/2) — Hugging Face / GGUF qwen2 ("NEOX") layout.
// cos/sin come from a table [n_ctx, HEAD_DIM/2] computed once on the CPU in f64.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override N_HEAD: u32;
override N_HEAD_KV: u32;
override HEAD_DIM: u32;
override PAIRWISE: bool = true;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> cos_sin: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> q: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    let p = step.pos + t;
    let half_dim = HEAD_DIM / 2u;
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_HEAD_KV * HEAD_DIM;
    let base = t * (q_dim + 2u * kv_dim);
    let n_pairs = (N_HEAD + N_HEAD_KV) * half_dim;
    for (var i = tid; i < n_pairs; i += WG) {
        let h = i / half_dim;
        let k = i % half_dim;
        let cs = cos_sin[p * half_dim + k];
        var ia = h * HEAD_DIM + k;
        var ib = ia + half_dim;
        if (PAIRWISE) {
            ia = h * HEAD_DIM + 2u * k;
            ib = ia + 1u;
        }
        let a = qkv[base + ia];
        let b = qkv[base + ib];
        let ra = a * cs.x - b * cs.y;
        let rb = a * cs.y + b * cs.x;
        if (h < N_HEAD) {
            q[t * q_dim + ia] = ra;
            q[t * q_dim + ib] = rb;
        } else {
            k_cache[p * kv_dim + ia - q_dim] = ra;
            k_cache[p * kv_dim + ib - q_dim] = rb;
        }
    }
    for (var i = tid; i < kv_dim; i += WG) {
        v_cache[p * kv_dim + i] = qkv[base + q_dim + kv_dim + i];
    }
}

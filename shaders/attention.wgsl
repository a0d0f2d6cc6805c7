// Causal grouped-query attention over the KV cache, one workgroup per (query head, token).
// Token t sits at position p = pos + t and attends cache rows 0..=p.
// Keys are processed in blocks of BLOCK: thread j scores key j of the block, then every
// thread updates the output dimensions it owns with an ONLINE softmax (running max m,
// running sum l, accumulator rescaled by exp(m_old - m_new)), so the scores are never
// stored whole and any context length works. Scores are scaled by 1/sqrt(HEAD_DIM).
// Query head h reads KV head h / (N_HEAD / N_HEAD_KV) (llama.cpp's grouping).

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override N_HEAD: u32;
override N_HEAD_KV: u32;
override HEAD_DIM: u32; // <= 256

const WG: u32 = 64u;
const BLOCK: u32 = 64u; // == WG: one key per thread
const DIMS_PER_THREAD: u32 = 4u; // 256 / WG
const NEG_INF: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> q_s: array<f32, 256>;
var<workgroup> p_s: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let h = wid.x;
    let t = wid.y;
    let q_dim = N_HEAD * HEAD_DIM;
    let kv_dim = N_HEAD_KV * HEAD_DIM;
    let kv_off = (h / (N_HEAD / N_HEAD_KV)) * HEAD_DIM;
    let scale = 1.0 / sqrt(f32(HEAD_DIM));

    let q_base = t * (q_dim + 2u * kv_dim) + h * HEAD_DIM;
    for (var d = tid; d < HEAD_DIM; d += WG) { q_s[d] = qkv[q_base + d] * scale; }
    workgroupBarrier();

    let n_keys = step.pos + t + 1u;
    var m = NEG_INF;
    var l = 0.0;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var start = 0u; start < n_keys; start += BLOCK) {
        let key = start + tid;
        var s = NEG_INF;
        if (key < n_keys) {
            s = 0.0;
            let kb = key * kv_dim + kv_off;
            for (var d = 0u; d < HEAD_DIM; d++) { s += q_s[d] * k_cache[kb + d]; }
        }
        p_s[tid] = s;
        workgroupBarrier();
        var block_max = NEG_INF;
        for (var j = 0u; j < BLOCK; j++) { block_max = max(block_max, p_s[j]); }
        let m_new = max(m, block_max);
        let alpha = exp(m - m_new);
        workgroupBarrier();
        var p = 0.0;
        if (key < n_keys) { p = exp(s - m_new); }
        p_s[tid] = p;
        workgroupBarrier();
        l *= alpha;
        for (var c = 0u; c < DIMS_PER_THREAD; c++) { acc[c] *= alpha; }
        let n_block = min(BLOCK, n_keys - start);
        for (var j = 0u; j < n_block; j++) {
            let pj = p_s[j];
            l += pj;
            let vb = (start + j) * kv_dim + kv_off;
            for (var c = 0u; c < DIMS_PER_THREAD; c++) {
                let d = tid + c * WG;
                if (d < HEAD_DIM) { acc[c] += pj * v_cache[vb + d]; }
            }
        }
        m = m_new;
        workgroupBarrier();
    }
    let o_base = t * q_dim + h * HEAD_DIM;
    for (var c = 0u; c < DIMS_PER_THREAD; c++) {
        let d = tid + c * WG;
        if (d < HEAD_DIM) { out[o_base + d] = acc[c] / l; }
    }
}

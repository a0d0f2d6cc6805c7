// Causal grouped-query attention over the KV cache. Token t sits at position p = pos + t
// and attends cache rows 0..=p with an ONLINE softmax: running max m, running sum l, and
// the output accumulated in registers, rescaled by exp(m_old - m_new) whenever the max
// grows, so scores are never stored and any context length works. Scores are scaled by
// 1/sqrt(HEAD_DIM). With a WINDOW (sliding-window layers), position p attends to rows
// p+1-WINDOW..=p only.
// MAX_VEC4 is set to HEAD_DIM / 4 when the pipeline is made, and each `//#unroll` block is
// written once per vec4 of the head, `$c` its index (gpu/kernels/mod.rs `unroll`): the
// query and the weighted sum of values are D4 variables each, not arrays indexed by a loop
// counter, which CPU adapters keep in memory (SwiftShader reads and writes such an array
// lane by lane, component by component, for every key).
// Query head h reads KV head h / (N_HEAD / N_HEAD_KV) (llama.cpp's grouping).
//
// Two entry points: `main`, one invocation per (token, query head) walking all its keys,
// with no workgroup memory and no barriers (a barrier costs microseconds on CPU WebGPU
// implementations), for many tokens (prefill); and `split`, one workgroup per (token,
// query head) whose SPLITS invocations share the keys and merge their partial softmaxes in
// workgroup memory (two barriers per MERGE_VEC4 vec4s of the head), for few tokens over a
// long cache (decode), where `main` would leave all but a handful of invocations idle and
// walk thousands of keys in each.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override N_HEAD: u32;
override N_HEAD_KV: u32;
override HEAD_DIM: u32; // a multiple of 4, at most 4 * MAX_VEC4
override WINDOW: u32 = 0u; // 0: every earlier position

const WG: u32 = 64u;
const MAX_VEC4: u32 = 32u;
const NEG_INF: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

override D4: u32 = HEAD_DIM / 4u;
override Q_DIM4: u32 = N_HEAD * D4;

/// A running softmax over some keys: its max and its sum of exp(score - max).
struct Running { m: f32, l: f32 }

//#unroll
var<private> q$c: vec4<f32>;
var<private> acc$c: vec4<f32>;
//#end

/// Query head h of token t over keys first + lane, first + lane + stride, ... of its
/// range: the running max and sum, and the values weighted by exp(score - max) in
/// acc0, acc1, .... Without a key, m = NEG_INF and l = 0.
fn attend(t: u32, h: u32, lane: u32, stride: u32) -> Running {
    let kv_dim4 = N_HEAD_KV * D4;
    let kv_off = (h / (N_HEAD / N_HEAD_KV)) * D4;
    let scale = 1.0 / sqrt(f32(HEAD_DIM));

    let q_base = t * Q_DIM4 + h * D4;
    //#unroll
    q$c = q_in[q_base + $cu] * scale;
    acc$c = vec4<f32>(0.0);
    //#end

    let n_keys = step.pos + t + 1u;
    var first = 0u;
    if (WINDOW > 0u && n_keys > WINDOW) { first = n_keys - WINDOW; }
    var m = NEG_INF;
    var l = 0.0;
    for (var key = first + lane; key < n_keys; key += stride) {
        let kb = key * kv_dim4 + kv_off;
        var s4 = vec4<f32>(0.0);
        //#unroll
        s4 += q$c * k_cache[kb + $cu];
        //#end
        let s = (s4.x + s4.y) + (s4.z + s4.w);
        let m_new = max(m, s);
        let alpha = exp(m - m_new);
        let p = exp(s - m_new);
        l = l * alpha + p;
        //#unroll
        acc$c = acc$c * alpha + p * v_cache[kb + $cu];
        //#end
        m = m_new;
    }
    return Running(m, l);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * WG + lid;
    let h = i % N_HEAD;
    let t = i / N_HEAD;
    if (t >= step.n_tokens) { return; }
    let r = attend(t, h, 0u, 1u);
    let o_base = t * Q_DIM4 + h * D4;
    //#unroll
    out[o_base + $cu] = acc$c / r.l;
    //#end
}

const SPLITS: u32 = 32u;
/// vec4s of the head merged per round: SPLITS × MERGE_VEC4 vec4s of workgroup memory (8 KiB).
const MERGE_VEC4: u32 = 16u;
var<workgroup> split_m: array<f32, SPLITS>;
var<workgroup> split_l: array<f32, SPLITS>;
var<workgroup> split_acc: array<vec4<f32>, SPLITS * MERGE_VEC4>;

@compute @workgroup_size(SPLITS)
fn split(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let h = wid.x % N_HEAD;
    let t = wid.x / N_HEAD;
    // Uniform per workgroup, so returning before the barriers is allowed.
    if (t >= step.n_tokens) { return; }
    // Invocation `lane` takes every SPLITS-th key; one with no key weighs nothing below.
    let r = attend(t, h, lane, SPLITS);
    split_m[lane] = r.m;
    split_l[lane] = r.l;
    workgroupBarrier();
    // The merged softmax: every partial rescaled to the largest max (key `first` is in
    // invocation 0, so that max is finite).
    var m_all = NEG_INF;
    for (var i = 0u; i < SPLITS; i++) { m_all = max(m_all, split_m[i]); }
    var l_all = 0.0;
    for (var i = 0u; i < SPLITS; i++) { l_all += split_l[i] * exp(split_m[i] - m_all); }
    let weight = exp(r.m - m_all) / l_all;
    // The merge walks the head in rounds: its vec4s, weighted, copied once into an array.
    var acc: array<vec4<f32>, MAX_VEC4>;
    //#unroll
    acc[$cu] = acc$c * weight;
    //#end
    let o_base = t * Q_DIM4 + h * D4;
    for (var c0 = 0u; c0 < D4; c0 += MERGE_VEC4) {
        for (var j = 0u; j < MERGE_VEC4 && c0 + j < D4; j++) {
            split_acc[lane * MERGE_VEC4 + j] = acc[c0 + j];
        }
        workgroupBarrier();
        if (lane < MERGE_VEC4 && c0 + lane < D4) {
            var sum = vec4<f32>(0.0);
            for (var i = 0u; i < SPLITS; i++) { sum += split_acc[i * MERGE_VEC4 + lane]; }
            out[o_base + c0 + lane] = sum;
        }
        workgroupBarrier();
    }
}

// Argmax over N logits in two passes: `partial` reduces CHUNK logits per workgroup to a
// (value, index) pair; `finish` reduces those pairs in one workgroup. Ties go to the
// lowest index; NaN never wins.

override N: u32;

const WG: u32 = 256u;
const CHUNK: u32 = 1024u;
// The lowest finite f32, written exactly: Chrome rejects -3.4028235e38 (beyond the f32 range).
const NEG_INF: f32 = -0x1.fffffep+127f;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> pairs: array<u32>; // [value bits, index] per chunk
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

fn reduce(tid: u32) {
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (tid < s && better(best_v[tid + s], best_i[tid + s], best_v[tid], best_i[tid])) {
            best_v[tid] = best_v[tid + s];
            best_i[tid] = best_i[tid + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3<u32>,
           @builtin(local_invocation_index) tid: u32) {
    var bv = NEG_INF;
    var bi = NONE;
    let end = min(N, (wid.x + 1u) * CHUNK);
    for (var i = wid.x * CHUNK + tid; i < end; i += WG) {
        let v = logits[i];
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    best_v[tid] = bv;
    best_i[tid] = bi;
    workgroupBarrier();
    reduce(tid);
    if (tid == 0u) {
        pairs[2u * wid.x] = bitcast<u32>(best_v[0]);
        pairs[2u * wid.x + 1u] = best_i[0];
    }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) tid: u32) {
    let n_chunks = (N + CHUNK - 1u) / CHUNK;
    var bv = NEG_INF;
    var bi = NONE;
    for (var c = tid; c < n_chunks; c += WG) {
        let v = bitcast<f32>(pairs[2u * c]);
        let i = pairs[2u * c + 1u];
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    best_v[tid] = bv;
    best_i[tid] = bi;
    workgroupBarrier();
    reduce(tid);
    if (tid == 0u) { result[0] = best_i[0]; }
}

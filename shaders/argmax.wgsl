// Argmax over N logits in two barrier-free passes. `partial`: invocation i of LANES scans
// logits i, i + LANES, i + 2 LANES, ... (adjacent invocations read adjacent logits) and
// writes its best (value, index); `finish`: one invocation reduces the LANES pairs.
// Ties go to the lowest index; NaN never wins.

override N: u32;

const WG: u32 = 64u;
const LANES: u32 = 1024u;
// The lowest finite f32, written exactly: Chrome rejects -3.4028235e38 (beyond the f32 range).
const NEG_INF: f32 = -0x1.fffffep+127f;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> pairs: array<u32>; // [value bits, index] per lane
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wid: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let lane = wid.x * WG + lid;
    var bv = NEG_INF;
    var bi = NONE;
    for (var i = lane; i < N; i += LANES) {
        let v = logits[i];
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    pairs[2u * lane] = bitcast<u32>(bv);
    pairs[2u * lane + 1u] = bi;
}

@compute @workgroup_size(1)
fn finish() {
    var bv = NEG_INF;
    var bi = NONE;
    for (var c = 0u; c < LANES; c++) {
        let v = bitcast<f32>(pairs[2u * c]);
        let i = pairs[2u * c + 1u];
        if (better(v, i, bv, bi)) { bv = v; bi = i; }
    }
    result[0] = bi;
}

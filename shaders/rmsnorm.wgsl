// RMSNorm, one workgroup per token: y[t] = x[t] / sqrt(mean(x[t]^2) + EPS) * w.
// (llama.cpp's order: scale first, then the weight.)

override DIM: u32;
override EPS: f32 = 1e-5;

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let base = wid.x * DIM;
    var ss = 0.0;
    for (var j = tid; j < DIM; j += WG) { let v = x[base + j]; ss += v * v; }
    partial[tid] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (tid < s) { partial[tid] += partial[tid + s]; }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(partial[0] / f32(DIM) + EPS);
    for (var j = tid; j < DIM; j += WG) { y[base + j] = x[base + j] * scale * w[j]; }
}

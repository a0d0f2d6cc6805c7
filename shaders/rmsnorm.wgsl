// RMSNorm, one invocation per token (barrier-free: a workgroup reduction would pay for
// barriers, which cost more than a serial sum on CPU WebGPU implementations):
// y[t] = x[t] / sqrt(mean(x[t]^2) + EPS) * w  (llama.cpp's order: scale, then weight);
// with ADD, y[t] += that instead (a norm of a block's output before its residual add).
// `main_layer` is LayerNorm (GPT-2): y[t] = (x[t] - mean) / sqrt(var + EPS) * w + b.

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override DIM: u32;
override EPS: f32 = 1e-5;
override ADD: bool = false;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let t = wid.x * WG + lid;
    if (t >= step.n_tokens) { return; }
    let base = t * DIM;
    var ss = 0.0;
    for (var j = 0u; j < DIM; j++) { let v = x[base + j]; ss += v * v; }
    let scale = 1.0 / sqrt(ss / f32(DIM) + EPS);
    for (var j = 0u; j < DIM; j++) {
        let v = x[base + j] * scale * w[j];
        if (ADD) { y[base + j] += v; } else { y[base + j] = v; }
    }
}

@compute @workgroup_size(64)
fn main_layer(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let t = wid.x * WG + lid;
    if (t >= step.n_tokens) { return; }
    let base = t * DIM;
    var sum = 0.0;
    for (var j = 0u; j < DIM; j++) { sum += x[base + j]; }
    let mean = sum / f32(DIM);
    var ss = 0.0;
    for (var j = 0u; j < DIM; j++) { let d = x[base + j] - mean; ss += d * d; }
    let scale = 1.0 / sqrt(ss / f32(DIM) + EPS);
    for (var j = 0u; j < DIM; j++) {
        y[base + j] = (x[base + j] - mean) * scale * w[j] + b[j];
    }
}

// Row-wise softmax, one workgroup per row of N: y = exp(x - max(x)) / sum(exp(x - max(x))).

override N: u32;

const WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let base = wid.x * N;
    var m = -0x1.fffffep+127f; // the lowest finite f32 (a decimal -3.4028235e38 is out of range in Chrome)
    for (var j = tid; j < N; j += WG) { m = max(m, x[base + j]); }
    partial[tid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (tid < s) { partial[tid] = max(partial[tid], partial[tid + s]); }
        workgroupBarrier();
    }
    let row_max = partial[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = tid; j < N; j += WG) { sum += exp(x[base + j] - row_max); }
    partial[tid] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (tid < s) { partial[tid] += partial[tid + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / partial[0];
    for (var j = tid; j < N; j += WG) { y[base + j] = exp(x[base + j] - row_max) * inv; }
}

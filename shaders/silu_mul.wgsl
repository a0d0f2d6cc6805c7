// SwiGLU activation, one invocation per element: for the stacked gate|up rows
// gu [n_tokens, 2 FF], out[t, i] = silu(gu[t, i]) * gu[t, FF + i]; with GELU, gelu of the
// gate instead (GeGLU).

#include activation

struct Step { pos: u32, n_tokens: u32, pad0: u32, pad1: u32 }

override FF: u32;
override GELU: bool = false;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = wid.x * WG + lid;
    let t = wid.y;
    if (i >= FF || t >= step.n_tokens) { return; }
    let g = gu[t * 2u * FF + i];
    let u = gu[t * 2u * FF + FF + i];
    var a = silu(g);
    if (GELU) { a = gelu(g); }
    out[t * FF + i] = a * u;
}

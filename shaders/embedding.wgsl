// Token embedding gather from ONE shard of a row-sharded table [n_vocab, DIM] in any GPU
// weight format (the format's decode snippet is included below; layout as in
// linear.wgsl): one invocation per (token, 8 columns) decodes them if this shard holds the
// token. Dispatched once per shard, so every token is written by exactly one shard. DIM is
// a multiple of the format's group. Values are multiplied by SCALE (Gemma: √DIM). With ADD
// they are added to x (GPT-2's position embedding, gathered by position).

#include quant

struct Shard { row_start: u32, n_rows: u32, n_groups: u32, pad1: u32 }

override DIM: u32;
override SCALE: f32 = 1.0;
override ADD: bool = false;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> shard: Shard;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;

fn word(wi: u32, j: u32) -> u32 { return wt[wi + j * ROW_BLOCK]; }
// The formats' 4-row products (not used here) read through word4.
fn word4(qi: u32, j: u32) -> vec4<u32> {
    let i = 4u * qi + j * ROW_BLOCK;
    return vec4<u32>(wt[i], wt[i + 1u], wt[i + 2u], wt[i + 3u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let unit = wid.x * WG + lid;
    let t = wid.y;
    if (unit >= DIM / 8u) { return; }
    let token = tokens[t];
    if (token < shard.row_start || token - shard.row_start >= shard.n_rows) { return; }
    let r = token - shard.row_start;
    let g = unit / (GROUP / 8u);
    let u = unit % (GROUP / 8u);
    let wi = ((r / ROW_BLOCK) * shard.n_groups + g) * WORDS * ROW_BLOCK + r % ROW_BLOCK;
    let p = decode8(wi, sub_head(wi, u / 4u), u);
    let o = t * (DIM / 4u) + 2u * unit;
    if (ADD) {
        x[o] += p.lo * SCALE;
        x[o + 1u] += p.hi * SCALE;
    } else {
        x[o] = p.lo * SCALE;
        x[o + 1u] = p.hi * SCALE;
    }
}

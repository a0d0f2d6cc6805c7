// Token embedding gather from ONE shard of a row-sharded fp16 table [n_vocab, DIM]:
// each workgroup (one per token) copies its token's row if this shard holds it. Dispatched
// once per shard, so every token is written by exactly one shard.

struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override DIM: u32;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> shard: Shard;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    let token = tokens[t];
    if (token < shard.row_start || token - shard.row_start >= shard.n_rows) { return; }
    let words = DIM / 2u;
    let src = (token - shard.row_start) * words;
    for (var j = tid; j < words; j += WG) {
        let v = unpack2x16float(table[src + j]);
        x[t * DIM + 2u * j] = v.x;
        x[t * DIM + 2u * j + 1u] = v.y;
    }
}

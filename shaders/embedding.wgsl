// Token embedding gather from ONE shard of a row-sharded fp16 table [n_vocab, DIM] stored
// transposed (`[DIM/2 words][n_rows]`, see linear.wgsl): one invocation per (token, word)
// copies two values if this shard holds the token. Dispatched once per shard, so every
// token is written by exactly one shard.

struct Shard { row_start: u32, n_rows: u32, pad0: u32, pad1: u32 }

override DIM: u32;

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> shard: Shard;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let j = wid.x * WG + lid;
    let t = wid.y;
    let words = DIM / 2u;
    if (j >= words) { return; }
    let token = tokens[t];
    if (token < shard.row_start || token - shard.row_start >= shard.n_rows) { return; }
    x[t * words + j] = unpack2x16float(table[j * shard.n_rows + token - shard.row_start]);
}

// Token embedding gather from ONE shard of a row-sharded fp16 table [n_vocab, DIM] in the
// blocked layout of gpu/weights.rs (chunk c of row i of 32-row block b at
// `(b * col_chunks + c) * 32 + i`, 8 columns per chunk): one invocation per (token, chunk)
// copies up to 8 values if this shard holds the token. Dispatched once per shard, so every
// token is written by exactly one shard. DIM is a multiple of 4.

struct Shard { row_start: u32, n_rows: u32, col_chunks: u32, pad1: u32 }

override DIM: u32;

const WG: u32 = 64u;
const ROW_BLOCK: u32 = 32u;

@group(0) @binding(0) var<uniform> shard: Shard;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> x: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let c = wid.x * WG + lid;
    let t = wid.y;
    if (c >= shard.col_chunks) { return; }
    let token = tokens[t];
    if (token < shard.row_start || token - shard.row_start >= shard.n_rows) { return; }
    let r = token - shard.row_start;
    let w = table[((r / ROW_BLOCK) * shard.col_chunks + c) * ROW_BLOCK + r % ROW_BLOCK];
    let o = t * (DIM / 4u) + 2u * c;
    x[o] = vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
    if (2u * c + 1u < DIM / 4u) {
        x[o + 1u] = vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w));
    }
}

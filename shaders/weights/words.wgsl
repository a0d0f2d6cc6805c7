// A linear kernel's weights as words: neighbouring lanes read neighbouring words.
@group(0) @binding(3) var<storage, read> wt: array<u32>;

fn word(wi: u32, j: u32) -> u32 { return wt[wi + j * ROW_BLOCK]; }

fn word4(qi: u32, j: u32) -> vec4<u32> {
    let i = 4u * qi + j * ROW_BLOCK;
    return vec4<u32>(wt[i], wt[i + 1u], wt[i + 2u], wt[i + 3u]);
}

// A linear kernel's weights as vec4s: one lane reads word j of 4 consecutive rows at once
// (`quad1`; a single word costs a whole vector load).
@group(0) @binding(3) var<storage, read> wt: array<vec4<u32>>;

fn word(wi: u32, j: u32) -> u32 {
    let i = wi + j * ROW_BLOCK;
    return wt[i / 4u][i % 4u];
}

fn word4(qi: u32, j: u32) -> vec4<u32> { return wt[qi + j * (ROW_BLOCK / 4u)]; }

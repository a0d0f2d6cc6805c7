// Q4_K: 256 columns; word 0 = d | dmin, words 1..4 = packed 6-bit scales and mins, words
// 4..36 = nibbles (sub-block s in words 4 + 4s ..); weight = d·sc · q - dmin·m.
const GROUP: u32 = 256u;
const WORDS: u32 = 36u;
const INPUT_SCALE_LO = NIBBLE_SCALE_LO;
const INPUT_SCALE_HI = NIBBLE_SCALE_HI;
struct Sub { d: f32, m: f32 }
fn sub_head(wi: u32, s: u32) -> Sub {
    let dm = kquant_sub(wi, s);
    return Sub(dm.x, dm.y);
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let w = word(wi, 4u + u);
    return Pair(h.d * as_f32(nibbles_lo(w)) - h.m, h.d * as_f32(nibbles_hi(w)) - h.m);
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 {
    let h = sub_head(wi, s);
    return h.d * nibble_dot32(wi, 4u + 4u * s, xs) - h.m * xs.sum;
}
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let h = kquant_sub4(qi, s);
    return h.d * nibble_dot32_4(qi, 4u + 4u * s, xs) - h.m * xs.sum;
}

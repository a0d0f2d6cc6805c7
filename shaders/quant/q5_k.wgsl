// Q5_K: as Q4_K, plus words 36..44 = fifth bits (word 36 + s, bit i: column i of
// sub-block s); weight = d·sc · q - dmin·m.
const GROUP: u32 = 256u;
const WORDS: u32 = 44u;
const INPUT_SCALE_LO = UNSCALED;
const INPUT_SCALE_HI = UNSCALED;
struct Sub { d: f32, m: f32, high: u32 }
fn sub_head(wi: u32, s: u32) -> Sub {
    let dm = kquant_sub(wi, s);
    return Sub(dm.x, dm.y, word(wi, 36u + s));
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let w = word(wi, 4u + u);
    let at = 8u * (u % 4u);
    let lo = nibbles_lo(w) | (bits4(h.high, at) << vec4<u32>(4u));
    let hi = nibbles_hi(w) | (bits4(h.high, at + 4u) << vec4<u32>(4u));
    return Pair(h.d * as_f32(lo) - h.m, h.d * as_f32(hi) - h.m);
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }

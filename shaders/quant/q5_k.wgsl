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
/// Columns 8u..8u+8 of the group from their nibble word w.
fn decode8_word(h: Sub, u: u32, w: u32) -> Pair {
    let at = 8u * (u % 4u);
    let lo = nibbles_lo(w) | (bits4(h.high, at) << vec4<u32>(4u));
    let hi = nibbles_hi(w) | (bits4(h.high, at + 4u) << vec4<u32>(4u));
    return Pair(h.d * as_f32(lo) - h.m, h.d * as_f32(hi) - h.m);
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair { return decode8_word(h, u, word(wi, 4u + u)); }
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let h = kquant_sub4(qi, s);
    let high = word4(qi, 36u + s);
    return decoded_dot4(Sub(h.d.x, h.m.x, high.x), Sub(h.d.y, h.m.y, high.y), Sub(h.d.z, h.m.z, high.z),
                        Sub(h.d.w, h.m.w, high.w), qi, 4u + 4u * s, xs);
}

// Q6_K: 256 columns; word 0 = d (f16), words 1..5 = 16 signed 8-bit scales (one per 16
// columns), words 5..37 = low nibbles, words 37..53 = two high bits (word 37 + k: columns
// 16k..16k+16); weight = (d · sc) · (q - 32).
const GROUP: u32 = 256u;
const WORDS: u32 = 53u;
const INPUT_SCALE_LO = UNSCALED;
const INPUT_SCALE_HI = UNSCALED;
struct Sub { a: f32, b: f32 }
fn sub_head(wi: u32, s: u32) -> Sub {
    let d = half_of(word(wi, 0u), 0u);
    let sc = bytes_i8(word(wi, 1u + s / 2u));
    let i = 2u * (s % 2u);
    return Sub(d * sc[i], d * sc[i + 1u]);
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let w = word(wi, 5u + u);
    let hw = word(wi, 37u + u / 2u);
    let at = 16u * (u % 2u);
    let lo = nibbles_lo(w) | (crumbs4(hw, at) << vec4<u32>(4u));
    let hi = nibbles_hi(w) | (crumbs4(hw, at + 8u) << vec4<u32>(4u));
    let scale = select(h.a, h.b, (u % 4u) >= 2u);
    return Pair(scale * (as_f32(lo) - 32.0), scale * (as_f32(hi) - 32.0));
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }

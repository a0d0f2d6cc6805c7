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
/// Columns 8u..8u+8 of the group from their nibble word w and high-bits word hw.
fn decode8_words(h: Sub, u: u32, w: u32, hw: u32) -> Pair {
    let at = 16u * (u % 2u);
    let lo = nibbles_lo(w) | (crumbs4(hw, at) << vec4<u32>(4u));
    let hi = nibbles_hi(w) | (crumbs4(hw, at + 8u) << vec4<u32>(4u));
    let scale = select(h.a, h.b, (u % 4u) >= 2u);
    return Pair(scale * (as_f32(lo) - 32.0), scale * (as_f32(hi) - 32.0));
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    return decode8_words(h, u, word(wi, 5u + u), word(wi, 37u + u / 2u));
}
/// The sub-block's dot product of one row from its scales, nibble words and high words.
fn row_dot(h: Sub, w0: u32, w1: u32, w2: u32, w3: u32, hw0: u32, hw1: u32, xs: X32) -> f32 {
    return pairs_dot(decode8_words(h, 0u, w0, hw0), decode8_words(h, 1u, w1, hw0),
                     decode8_words(h, 2u, w2, hw1), decode8_words(h, 3u, w3, hw1), xs);
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let d = lo_halves(word4(qi, 0u));
    let sc = word4(qi, 1u + s / 2u);
    let i = 2u * (s % 2u);
    let a = bytes_i8(sc.x);
    let b = bytes_i8(sc.y);
    let c = bytes_i8(sc.z);
    let e = bytes_i8(sc.w);
    let w0 = word4(qi, 5u + 4u * s);
    let w1 = word4(qi, 6u + 4u * s);
    let w2 = word4(qi, 7u + 4u * s);
    let w3 = word4(qi, 8u + 4u * s);
    let h0 = word4(qi, 37u + 2u * s);
    let h1 = word4(qi, 38u + 2u * s);
    return vec4<f32>(row_dot(Sub(d.x * a[i], d.x * a[i + 1u]), w0.x, w1.x, w2.x, w3.x, h0.x, h1.x, xs),
                     row_dot(Sub(d.y * b[i], d.y * b[i + 1u]), w0.y, w1.y, w2.y, w3.y, h0.y, h1.y, xs),
                     row_dot(Sub(d.z * c[i], d.z * c[i + 1u]), w0.z, w1.z, w2.z, w3.z, h0.z, h1.z, xs),
                     row_dot(Sub(d.w * e[i], d.w * e[i + 1u]), w0.w, w1.w, w2.w, w3.w, h0.w, h1.w, xs));
}

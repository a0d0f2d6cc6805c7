// Q4_0: word 0 = d (f16), words 1..5 = nibbles; weight = (q - 8) · d.
const GROUP: u32 = 32u;
const WORDS: u32 = 5u;
const INPUT_SCALE_LO = NIBBLE_SCALE_LO;
const INPUT_SCALE_HI = NIBBLE_SCALE_HI;
struct Sub { d: f32 }
fn sub_head(wi: u32, s: u32) -> Sub { return Sub(half_of(word(wi, 0u), 0u)); }
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let w = word(wi, 1u + u);
    return Pair((as_f32(nibbles_lo(w)) - 8.0) * h.d, (as_f32(nibbles_hi(w)) - 8.0) * h.d);
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 {
    let h = sub_head(wi, s);
    return h.d * (nibble_dot32(wi, 1u, xs) - 8.0 * xs.sum);
}
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    return lo_halves(word4(qi, 0u)) * (nibble_dot32_4(qi, 1u, xs) - 8.0 * xs.sum);
}

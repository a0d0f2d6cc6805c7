// Q4_1: word 0 = d | m (f16 pair), words 1..5 = nibbles; weight = q · d + m.
const GROUP: u32 = 32u;
const WORDS: u32 = 5u;
const INPUT_SCALE_LO = NIBBLE_SCALE_LO;
const INPUT_SCALE_HI = NIBBLE_SCALE_HI;
struct Sub { d: f32, m: f32 }
fn sub_head(wi: u32, s: u32) -> Sub {
    let dm = unpack2x16float(word(wi, 0u));
    return Sub(dm.x, dm.y);
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let w = word(wi, 1u + u);
    return Pair(as_f32(nibbles_lo(w)) * h.d + h.m, as_f32(nibbles_hi(w)) * h.d + h.m);
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 {
    let h = sub_head(wi, s);
    return h.d * nibble_dot32(wi, 1u, xs) + h.m * xs.sum;
}
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let dm = word4(qi, 0u);
    return lo_halves(dm) * nibble_dot32_4(qi, 1u, xs) + hi_halves(dm) * xs.sum;
}

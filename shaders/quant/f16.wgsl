// F16: 16 words per 32 columns, column pairs (low half first).
const GROUP: u32 = 32u;
const WORDS: u32 = 16u;
const INPUT_SCALE_LO = UNSCALED;
const INPUT_SCALE_HI = UNSCALED;
struct Sub { a: f32 }
fn sub_head(wi: u32, s: u32) -> Sub { return Sub(0.0); }
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    let j = 4u * u;
    return Pair(vec4<f32>(unpack2x16float(word(wi, j)), unpack2x16float(word(wi, j + 1u))),
                vec4<f32>(unpack2x16float(word(wi, j + 2u)), unpack2x16float(word(wi, j + 3u))));
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }
/// Σ weight · x over columns 4p..4p+4 (words 2p, 2p + 1) of 4 consecutive rows.
fn halves_dot4(qi: u32, p: u32, x: vec4<f32>) -> vec4<f32> {
    let a = word4(qi, 2u * p);
    let b = word4(qi, 2u * p + 1u);
    return vec4<f32>(dot(vec4<f32>(unpack2x16float(a.x), unpack2x16float(b.x)), x),
                     dot(vec4<f32>(unpack2x16float(a.y), unpack2x16float(b.y)), x),
                     dot(vec4<f32>(unpack2x16float(a.z), unpack2x16float(b.z)), x),
                     dot(vec4<f32>(unpack2x16float(a.w), unpack2x16float(b.w)), x));
}
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    return halves_dot4(qi, 0u, xs.a0) + halves_dot4(qi, 1u, xs.a1) + halves_dot4(qi, 2u, xs.a2)
         + halves_dot4(qi, 3u, xs.a3) + halves_dot4(qi, 4u, xs.a4) + halves_dot4(qi, 5u, xs.a5)
         + halves_dot4(qi, 6u, xs.a6) + halves_dot4(qi, 7u, xs.a7);
}

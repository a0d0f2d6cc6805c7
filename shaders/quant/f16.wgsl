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

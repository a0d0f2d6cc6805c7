// Q8_0: word 0 = d (f16), words 1..9 = 4 signed bytes each; weight = q · d.
const GROUP: u32 = 32u;
const WORDS: u32 = 9u;
struct Sub { d: f32 }
fn sub_head(wi: u32, s: u32) -> Sub { return Sub(half_of(word(wi, 0u), 0u)); }
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    return Pair(bytes_i8(word(wi, 1u + 2u * u)) * h.d, bytes_i8(word(wi, 2u + 2u * u)) * h.d);
}
/// Word j's signed bytes + 128, / 255.
fn biased(wi: u32, j: u32) -> vec4<f32> { return unpack4x8unorm(word(wi, j) ^ 0x80808080u); }
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 {
    // Bytes offset by 128 read as unorm: q = 255 u - 128.
    let h = sub_head(wi, s);
    let acc = dot(biased(wi, 1u), xs.a0) + dot(biased(wi, 2u), xs.a1) + dot(biased(wi, 3u), xs.a2)
            + dot(biased(wi, 4u), xs.a3) + dot(biased(wi, 5u), xs.a4) + dot(biased(wi, 6u), xs.a5)
            + dot(biased(wi, 7u), xs.a6) + dot(biased(wi, 8u), xs.a7);
    return h.d * (255.0 * acc - 128.0 * xs.sum);
}

// Q8_0: word 0 = d (f16), words 1..9 = 4 signed bytes each; weight = q · d.
const GROUP: u32 = 32u;
const WORDS: u32 = 9u;
const INPUT_SCALE_LO = BYTE_SCALE;
const INPUT_SCALE_HI = BYTE_SCALE;
struct Sub { d: f32 }
fn sub_head(wi: u32, s: u32) -> Sub { return Sub(half_of(word(wi, 0u), 0u)); }
fn decode8(wi: u32, h: Sub, u: u32) -> Pair {
    return Pair(bytes_i8(word(wi, 1u + 2u * u)) * h.d, bytes_i8(word(wi, 2u + 2u * u)) * h.d);
}
/// Where the biased bytes of a word are read in place: bytes 0, 1 in w, bytes 2, 3 in
/// w >> 16; their place values, which inputs are divided by.
const BYTE_MASK = vec4<u32>(0xFFu, 0xFF00u, 0xFFu, 0xFF00u);
const BYTE_SCALE = vec4<f32>(1.0, 1.0 / 256.0, 1.0, 1.0 / 256.0);
/// Σ (q + 128) · x over the 4 columns of word w (inputs scaled by BYTE_SCALE).
fn biased_dot_word(word: u32, x: vec4<f32>) -> f32 {
    let w = word ^ 0x80808080u;
    let v = w >> 16u;
    return dot(in_place(vec4<u32>(w, w, v, v), BYTE_MASK), x);
}
fn biased_dot(wi: u32, j: u32, x: vec4<f32>) -> f32 { return biased_dot_word(word(wi, j), x); }
/// `biased_dot` of 4 consecutive rows.
fn biased_dot4(qi: u32, j: u32, x: vec4<f32>) -> vec4<f32> {
    let w = word4(qi, j);
    return vec4<f32>(biased_dot_word(w.x, x), biased_dot_word(w.y, x), biased_dot_word(w.z, x),
                     biased_dot_word(w.w, x));
}
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 {
    // Bytes offset by 128 read as unsigned: q = b - 128.
    let h = sub_head(wi, s);
    let acc = biased_dot(wi, 1u, xs.a0) + biased_dot(wi, 2u, xs.a1) + biased_dot(wi, 3u, xs.a2)
            + biased_dot(wi, 4u, xs.a3) + biased_dot(wi, 5u, xs.a4) + biased_dot(wi, 6u, xs.a5)
            + biased_dot(wi, 7u, xs.a6) + biased_dot(wi, 8u, xs.a7);
    return h.d * (acc - 128.0 * xs.sum);
}
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let acc = biased_dot4(qi, 1u, xs.a0) + biased_dot4(qi, 2u, xs.a1) + biased_dot4(qi, 3u, xs.a2)
            + biased_dot4(qi, 4u, xs.a3) + biased_dot4(qi, 5u, xs.a4) + biased_dot4(qi, 6u, xs.a5)
            + biased_dot4(qi, 7u, xs.a6) + biased_dot4(qi, 8u, xs.a7);
    return lo_halves(word4(qi, 0u)) * (acc - 128.0 * xs.sum);
}

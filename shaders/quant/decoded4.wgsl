// 4-row dot products of the formats that decode 8 columns from one data word with
// `fn decode8_word(h: Sub, u: u32, w: u32) -> Pair` (u: 0..4 within the sub-block):
// Q5_0, Q5_1, Q5_K.

/// A sub-block's dot product of one row from its 4 data words.
fn word_row_dot(h: Sub, w0: u32, w1: u32, w2: u32, w3: u32, xs: X32) -> f32 {
    return pairs_dot(decode8_word(h, 0u, w0), decode8_word(h, 1u, w1), decode8_word(h, 2u, w2),
                     decode8_word(h, 3u, w3), xs);
}

/// `sub_dot4` from the 4 rows' sub-block constants and the index j of the sub-block's
/// first data word.
fn decoded_dot4(h0: Sub, h1: Sub, h2: Sub, h3: Sub, qi: u32, j: u32, xs: X32) -> vec4<f32> {
    let w0 = word4(qi, j);
    let w1 = word4(qi, j + 1u);
    let w2 = word4(qi, j + 2u);
    let w3 = word4(qi, j + 3u);
    return vec4<f32>(word_row_dot(h0, w0.x, w1.x, w2.x, w3.x, xs), word_row_dot(h1, w0.y, w1.y, w2.y, w3.y, xs),
                     word_row_dot(h2, w0.z, w1.z, w2.z, w3.z, xs), word_row_dot(h3, w0.w, w1.w, w2.w, w3.w, xs));
}

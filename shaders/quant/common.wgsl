// Shared by every weight format snippet (shaders/quant/<format>.wgsl). A kernel that reads
// weights defines `fn word(wi: u32, j: u32) -> u32`: word j of the group whose word 0 is at
// index wi of its weight binding. A format snippet defines GROUP (columns per group), WORDS
// (words per group), `struct Sub` (the constants of one 32-column sub-block),
// `fn sub_head(wi, s) -> Sub` and `fn decode8(wi, h, u) -> Pair`: the weights of columns
// 8u..8u+8 of the group (u / 4 is the sub-block of h), exactly as ggml dequantizes them;
// and `fn sub_dot(wi, s, xs) -> f32`: the dot product of sub-block s with the inputs xs,
// computed the cheapest way the format allows (factored scales, `unpack4x8unorm`), which
// rounds differently from decode8 but within f32 precision.

/// 8 consecutive weights: columns 0..4 and 4..8.
struct Pair { lo: vec4<f32>, hi: vec4<f32> }

/// The inputs of one 32-column sub-block and their sum.
struct X32 {
    a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
    a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>,
    sum: f32,
}

fn x32(a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>,
       a4: vec4<f32>, a5: vec4<f32>, a6: vec4<f32>, a7: vec4<f32>) -> X32 {
    let sum = dot((a0 + a1) + (a2 + a3) + (a4 + a5) + (a6 + a7), vec4<f32>(1.0));
    return X32(a0, a1, a2, a3, a4, a5, a6, a7, sum);
}

/// Σ nibble · x over 8 columns of a nibble word, times 255 (unpack4x8unorm divides by
/// 255; the caller folds 255 into the scale).
fn nibble_dot(w: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    return dot(unpack4x8unorm(w & 0x0F0F0F0Fu), lo) + dot(unpack4x8unorm((w >> 4u) & 0x0F0F0F0Fu), hi);
}

/// Σ nibble · x over the 32 columns of 4 consecutive nibble words from word j, / 255.
fn nibble_dot32(wi: u32, j: u32, xs: X32) -> f32 {
    return nibble_dot(word(wi, j), xs.a0, xs.a1) + nibble_dot(word(wi, j + 1u), xs.a2, xs.a3)
         + nibble_dot(word(wi, j + 2u), xs.a4, xs.a5) + nibble_dot(word(wi, j + 3u), xs.a6, xs.a7);
}

/// The dot product of sub-block s through decode8 (formats without a cheaper way).
fn decoded_dot32(wi: u32, s: u32, xs: X32) -> f32 {
    let h = sub_head(wi, s);
    let p0 = decode8(wi, h, 4u * s);
    let p1 = decode8(wi, h, 4u * s + 1u);
    let p2 = decode8(wi, h, 4u * s + 2u);
    let p3 = decode8(wi, h, 4u * s + 3u);
    return dot(p0.lo, xs.a0) + dot(p0.hi, xs.a1) + dot(p1.lo, xs.a2) + dot(p1.hi, xs.a3)
         + dot(p2.lo, xs.a4) + dot(p2.hi, xs.a5) + dot(p3.lo, xs.a6) + dot(p3.hi, xs.a7);
}

/// Nibbles of columns 0..4 and 4..8 of a word (layout in gpu/formats.rs).
fn nibbles_lo(w: u32) -> vec4<u32> { return (vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u); }
fn nibbles_hi(w: u32) -> vec4<u32> { return (vec4<u32>(w) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u); }

/// Bits `at..at+4` of w, each as 0 or 1.
fn bits4(w: u32, at: u32) -> vec4<u32> { return (vec4<u32>(w) >> (vec4<u32>(0u, 1u, 2u, 3u) + at)) & vec4<u32>(1u); }

/// Two-bit fields `at/2..at/2+4` of w (field i in bits at+2i..at+2i+2).
fn crumbs4(w: u32, at: u32) -> vec4<u32> { return (vec4<u32>(w) >> (vec4<u32>(0u, 2u, 4u, 6u) + at)) & vec4<u32>(3u); }

/// The four signed bytes of w.
fn bytes_i8(w: u32) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w << 24u, w << 16u, w << 8u, w)) >> vec4<u32>(24u));
}

/// The f16 in the low (0) or high (1) half of w.
fn half_of(w: u32, hi: u32) -> f32 { return unpack2x16float(w)[hi]; }

// Shared by every weight format snippet (shaders/quant/<format>.wgsl). A kernel that reads
// weights defines `fn word(wi: u32, j: u32) -> u32`: word j of the group whose word 0 is at
// index wi of its weight binding, and `fn word4(qi: u32, j: u32) -> vec4<u32>`: word j of
// 4 consecutive rows whose word 0 starts at vec4 index qi (rows 4q..4q+4 of a block are
// one aligned vec4 in the layout of gpu/weights.rs). A format snippet defines GROUP
// (columns per group), WORDS (words per group), `struct Sub` (the constants of one
// 32-column sub-block), `fn sub_head(wi, s) -> Sub` and `fn decode8(wi, h, u) -> Pair`:
// the weights of columns 8u..8u+8 of the group (u / 4 is the sub-block of h), exactly as
// ggml dequantizes them; `fn sub_dot(wi, s, xs) -> f32`: the dot product of sub-block s
// with the inputs xs, computed the cheapest way the format allows (scales factored out of
// the sums), which rounds differently from decode8 but within f32 precision; and
// `fn sub_dot4(qi, s, xs) -> vec4<f32>`: sub_dot of 4 consecutive rows, each word of the
// 4 rows read in one vector load.

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
    // Each format's sub_dot reads its inputs scaled by INPUT_SCALE_LO / _HI (powers of two:
    // exact), which cancels the place value of its weights read in place (`in_place`).
    let lo = INPUT_SCALE_LO;
    let hi = INPUT_SCALE_HI;
    return X32(a0 * lo, a1 * hi, a2 * lo, a3 * hi, a4 * lo, a5 * hi, a6 * lo, a7 * hi, sum);
}

/// Small non-negative integers as floats, converted as signed: one instruction on
/// SwiftShader, whose unsigned conversion takes five (and so does `unpack4x8unorm`).
fn as_f32(v: vec4<u32>) -> vec4<f32> { return vec4<f32>(bitcast<vec4<i32>>(v)); }

/// The unsigned field of w under `mask` (bits below 31) times its place value 2^p, exactly
/// (a field of at most 8 bits fits the mantissa wherever it sits): a mask and a signed
/// conversion in place of a shift and an unsigned one. SwiftShader's compiler (Subzero)
/// turns each shift of a shader into four scalar ones and an unsigned conversion into five
/// instructions; a signed conversion is one instruction there and on lavapipe.
fn in_place(w: vec4<u32>, mask: vec4<u32>) -> vec4<f32> { return as_f32(w & mask); }

/// Where `nibble_dot` finds the nibbles of columns 0..4 and 4..8 (layout in
/// gpu/formats.rs: column c at bit 8 (c % 4) + 4 (c / 4)): in w for bits below 20, in
/// w >> 12 above; and their place values, which inputs are divided by (INPUT_SCALE_*).
const NIBBLE_MASK_LO = vec4<u32>(0xFu, 0xF00u, 0xF0000u, 0xF000u);
const NIBBLE_MASK_HI = vec4<u32>(0xF0u, 0xF000u, 0xF00u, 0xF0000u);
const NIBBLE_SCALE_LO = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 4096.0);
const NIBBLE_SCALE_HI = vec4<f32>(1.0 / 16.0, 1.0 / 4096.0, 1.0 / 256.0, 1.0 / 65536.0);
/// Inputs as they are, for formats that decode their weights to their values.
const UNSCALED = vec4<f32>(1.0);

/// Σ nibble · x over 8 columns of a nibble word, with inputs scaled by NIBBLE_SCALE_*.
fn nibble_dot(w: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    let v = w >> 12u;
    return dot(in_place(vec4<u32>(w, w, w, v), NIBBLE_MASK_LO), lo)
         + dot(in_place(vec4<u32>(w, w, v, v), NIBBLE_MASK_HI), hi);
}

/// Σ nibble · x over the 32 columns of 4 consecutive nibble words from word j.
fn nibble_dot32(wi: u32, j: u32, xs: X32) -> f32 {
    return nibble_dot(word(wi, j), xs.a0, xs.a1) + nibble_dot(word(wi, j + 1u), xs.a2, xs.a3)
         + nibble_dot(word(wi, j + 2u), xs.a4, xs.a5) + nibble_dot(word(wi, j + 3u), xs.a6, xs.a7);
}

/// The dot product of a sub-block's 32 decoded weights with its inputs.
fn pairs_dot(p0: Pair, p1: Pair, p2: Pair, p3: Pair, xs: X32) -> f32 {
    return dot(p0.lo, xs.a0) + dot(p0.hi, xs.a1) + dot(p1.lo, xs.a2) + dot(p1.hi, xs.a3)
         + dot(p2.lo, xs.a4) + dot(p2.hi, xs.a5) + dot(p3.lo, xs.a6) + dot(p3.hi, xs.a7);
}

/// The dot product of sub-block s through decode8 (formats without a cheaper way).
fn decoded_dot32(wi: u32, s: u32, xs: X32) -> f32 {
    let h = sub_head(wi, s);
    return pairs_dot(decode8(wi, h, 4u * s), decode8(wi, h, 4u * s + 1u), decode8(wi, h, 4u * s + 2u),
                     decode8(wi, h, 4u * s + 3u), xs);
}

/// `nibble_dot` of 4 rows' words.
fn nibble_dot4(w: vec4<u32>, lo: vec4<f32>, hi: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(nibble_dot(w.x, lo, hi), nibble_dot(w.y, lo, hi), nibble_dot(w.z, lo, hi),
                     nibble_dot(w.w, lo, hi));
}

/// `nibble_dot32` of 4 consecutive rows.
fn nibble_dot32_4(qi: u32, j: u32, xs: X32) -> vec4<f32> {
    return nibble_dot4(word4(qi, j), xs.a0, xs.a1) + nibble_dot4(word4(qi, j + 1u), xs.a2, xs.a3)
         + nibble_dot4(word4(qi, j + 2u), xs.a4, xs.a5) + nibble_dot4(word4(qi, j + 3u), xs.a6, xs.a7);
}

/// The f16 in the low (`lo_halves`) or high (`hi_halves`) half of each of 4 words.
fn lo_halves(w: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w.x).x, unpack2x16float(w.y).x, unpack2x16float(w.z).x,
                     unpack2x16float(w.w).x);
}
fn hi_halves(w: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w.x).y, unpack2x16float(w.y).y, unpack2x16float(w.z).y,
                     unpack2x16float(w.w).y);
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

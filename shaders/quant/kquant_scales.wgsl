// ggml's get_scale_min_k4: the 6-bit scale and min of sub-block s (0..8) from the 12 scale
// bytes in words 1..4 of a Q4_K / Q5_K group. Returns (scale, min) · (d, dmin) as ggml does:
// d1 = d * sc, m1 = dmin * m, in f32.
fn kquant_sub(wi: u32, s: u32) -> vec2<f32> {
    let dm = unpack2x16float(word(wi, 0u));
    var sc: u32;
    var m: u32;
    if (s < 4u) {
        sc = byte_of(wi, s) & 63u;
        m = byte_of(wi, s + 4u) & 63u;
    } else {
        sc = (byte_of(wi, s + 4u) & 15u) | ((byte_of(wi, s - 4u) >> 6u) << 4u);
        m = (byte_of(wi, s + 4u) >> 4u) | ((byte_of(wi, s) >> 6u) << 4u);
    }
    return vec2<f32>(dm.x * f32(sc), dm.y * f32(m));
}

/// Byte i of the 12 scale bytes.
fn byte_of(wi: u32, i: u32) -> u32 { return (word(wi, 1u + i / 4u) >> (8u * (i % 4u))) & 255u; }
/// `kquant_sub` of 4 consecutive rows.
struct Sub4 { d: vec4<f32>, m: vec4<f32> }
fn kquant_sub4(qi: u32, s: u32) -> Sub4 {
    let dm = word4(qi, 0u);
    var sc: vec4<u32>;
    var m: vec4<u32>;
    if (s < 4u) {
        sc = byte_of4(qi, s) & vec4<u32>(63u);
        m = byte_of4(qi, s + 4u) & vec4<u32>(63u);
    } else {
        sc = (byte_of4(qi, s + 4u) & vec4<u32>(15u)) | ((byte_of4(qi, s - 4u) >> vec4<u32>(6u)) << vec4<u32>(4u));
        m = (byte_of4(qi, s + 4u) >> vec4<u32>(4u)) | ((byte_of4(qi, s) >> vec4<u32>(6u)) << vec4<u32>(4u));
    }
    return Sub4(lo_halves(dm) * vec4<f32>(sc), hi_halves(dm) * vec4<f32>(m));
}

/// `byte_of` of 4 consecutive rows.
fn byte_of4(qi: u32, i: u32) -> vec4<u32> {
    return (word4(qi, 1u + i / 4u) >> vec4<u32>(8u * (i % 4u))) & vec4<u32>(255u);
}

// Q5_1: word 0 = d | m (f16 pair), words 1..5 = low nibbles, word 5 = fifth bits;
// weight = q · d + m.
const GROUP: u32 = 32u;
const WORDS: u32 = 6u;
const INPUT_SCALE_LO = UNSCALED;
const INPUT_SCALE_HI = UNSCALED;
struct Sub { d: f32, m: f32, high: u32 }
fn sub_head(wi: u32, s: u32) -> Sub {
    let dm = unpack2x16float(word(wi, 0u));
    return Sub(dm.x, dm.y, word(wi, 5u));
}
/// Columns 8u..8u+8 from their nibble word w.
fn decode8_word(h: Sub, u: u32, w: u32) -> Pair {
    let lo = nibbles_lo(w) | (bits4(h.high, 8u * u) << vec4<u32>(4u));
    let hi = nibbles_hi(w) | (bits4(h.high, 8u * u + 4u) << vec4<u32>(4u));
    return Pair(as_f32(lo) * h.d + h.m, as_f32(hi) * h.d + h.m);
}
fn decode8(wi: u32, h: Sub, u: u32) -> Pair { return decode8_word(h, u, word(wi, 1u + u)); }
fn sub_dot(wi: u32, s: u32, xs: X32) -> f32 { return decoded_dot32(wi, s, xs); }
fn sub_dot4(qi: u32, s: u32, xs: X32) -> vec4<f32> {
    let dm = word4(qi, 0u);
    let d = lo_halves(dm);
    let m = hi_halves(dm);
    let high = word4(qi, 5u);
    return decoded_dot4(Sub(d.x, m.x, high.x), Sub(d.y, m.y, high.y), Sub(d.z, m.z, high.z),
                        Sub(d.w, m.w, high.w), qi, 1u, xs);
}

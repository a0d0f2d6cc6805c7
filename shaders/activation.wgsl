// The FFN's activations, shared by the kernels that apply them (included as
// `#include activation`).
//   silu(g) = g / (1 + e^-g)
//   gelu(g) = g/2 · (1 + tanh(√(2/π) (g + 0.044715 g³)))   (tanh approximation)

fn silu(g: f32) -> f32 {
    return g / (1.0 + exp(-g));
}

fn gelu(g: f32) -> f32 {
    // tanh's argument clamped: tanh(±10) is ±1 in f32, and larger arguments may overflow
    // an implementation's exp.
    return 0.5 * g * (1.0 + tanh(clamp(0.7978846 * g * (1.0 + 0.044715 * g * g), -10.0, 10.0)));
}

// Epilogue of the stacked gate|up product (SwiGLU, or GeGLU with GELU): pair p is
// (gate row p, up row p),
//   act[t, p] = silu(gate) · up,  silu(g) = g / (1 + e^-g)
//   act[t, p] = gelu(gate) · up,  gelu(g) = g/2 · (1 + tanh(√(2/π) (g + 0.044715 g³)))
// so the activation is computed where both products are still in registers.

#include activation

const PAIRED: bool = true;

override N_OUT: u32;
override GELU: bool = false;

@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn store_row(t: u32, r: u32, acc: f32) {}

fn store_pair(t: u32, p: u32, g: f32, u: f32) {
    if (p >= shard.n_rows) { return; }
    var a = silu(g);
    if (GELU) { a = gelu(g); }
    y[t * N_OUT + shard.row_start + p] = a * u;
}

//! A weight matrix in CPU memory, kept in its file's encoding (GGUF blocks, or f16/bf16/f32
//! rows), and its product with f32 inputs. Each row is decoded once per product, with
//! exactly the values ggml's `dequantize_row_*` gives, and serves every token of the chunk.

use super::int16::{self, Int16Rows};
use super::Activations;
use crate::error::{Error, Result};
use crate::formats::{quant, DType, Tensor};

/// `[rows, cols]` in `dtype`, row-major, rows of `row_bytes`.
pub struct CpuMatrix {
    pub name: String,
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    row_bytes: usize,
    data: Vec<u8>,
}

impl CpuMatrix {
    /// An empty matrix that the tensor's pieces fill in order.
    pub fn new(name: &str, dtype: DType, rows: usize, cols: usize) -> Result<Self> {
        let row_bytes = dtype.bytes_for(cols)?;
        let bytes = row_bytes
            .checked_mul(rows)
            .ok_or_else(|| Error::DoesNotFit(format!("tensor '{name}' is too large")))?;
        let mut data = Vec::new();
        data.try_reserve_exact(bytes).map_err(|_| {
            Error::DoesNotFit(format!(
                "tensor '{name}' needs {bytes} bytes of memory, which the allocator refused"
            ))
        })?;
        Ok(Self {
            name: name.to_string(),
            dtype,
            rows,
            cols,
            row_bytes,
            data,
        })
    }

    /// Appends a tensor's rows (the next piece, or the whole tensor).
    pub fn append(&mut self, t: &Tensor) -> Result<()> {
        if t.dtype != self.dtype || t.first_row() * self.row_bytes != self.data.len() {
            return Err(Error::Malformed(format!(
                "tensor '{}' arrived out of order or with another type",
                self.name
            )));
        }
        if self.data.len() + t.data.len() > self.rows * self.row_bytes {
            return Err(Error::Malformed(format!(
                "tensor '{}' has more bytes than its shape",
                self.name
            )));
        }
        self.data.extend_from_slice(&t.data);
        Ok(())
    }

    pub fn is_complete(&self) -> bool {
        self.data.len() == self.rows * self.row_bytes
    }

    /// Bytes the matrix holds.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Row `r` decoded into `out` (`cols` values).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<()> {
        quant::dequantize_into(self.dtype, self.row_bytes(r), out)
    }

    /// The stored bytes of row `r`.
    fn row_bytes(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Fills `out` (`[rows of the task, n]`) from weight row `first` on.
    fn rows_into(
        &self,
        first: usize,
        x: &[f32],
        n: usize,
        xq: Option<&Int16Rows>,
        out: &mut [f32],
    ) -> Result<()> {
        match xq {
            Some(xq) if n == 1 && int16::supports(self.dtype) => {
                for (r, y) in (first..).zip(out.iter_mut()) {
                    *y = int16::dot(self.dtype, self.row_bytes(r), xq.row(0));
                }
            }
            _ => {
                // Each row decoded once, then dotted with every token.
                let mut w = vec![0.0f32; self.cols];
                for (r, ys) in (first..).zip(out.chunks_exact_mut(n)) {
                    self.row(r, &mut w)?;
                    for (y, xt) in ys.iter_mut().zip(x.chunks_exact(self.cols)) {
                        *y = dot(&w, xt);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Rows per task: small enough that two threads share even a 192-row product evenly,
/// large enough to amortize scheduling.
const ROWS_PER_TASK: usize = 16;

/// `y = x · Wᵀ` for every `(W, y)` of `products` (all with `cols` inputs, `y` `[n, rows]`),
/// as one set of tasks, so that the products of one input (Q, K and V; gate and up) share
/// the threads and the quantized activations. With `Activations::Int16` and one token,
/// matrices in a format with an integer dot take `x` quantized to 16 bits.
pub fn products(
    products: &mut [(&CpuMatrix, &mut [f32])],
    x: &[f32],
    n: usize,
    activations: Activations,
) -> Result<()> {
    for (m, y) in products.iter() {
        if x.len() != n * m.cols || y.len() != n * m.rows {
            return Err(Error::InvalidRequest(format!(
                "product with '{}' [{}, {}] of {} inputs into {} outputs",
                m.name,
                m.rows,
                m.cols,
                x.len(),
                y.len()
            )));
        }
    }
    let int16_wanted = n == 1
        && activations == Activations::Int16
        && products.iter().any(|(m, _)| int16::supports(m.dtype));
    let xq = match products.first() {
        Some((m, _)) if int16_wanted => Some(Int16Rows::quantize(x, m.cols)),
        _ => None,
    };
    // One token: [rows, n] is already [n, rows]; otherwise each product's tasks write
    // [rows, n], laid out as [n, rows] afterwards.
    let mut staging: Vec<Vec<f32>> = products
        .iter()
        .map(|(m, _)| {
            if n == 1 {
                Vec::new()
            } else {
                vec![0.0; m.rows * n]
            }
        })
        .collect();
    let mut tasks = Vec::new();
    for ((m, y), stage) in products.iter_mut().zip(staging.iter_mut()) {
        let out: &mut [f32] = if n == 1 { y } else { stage };
        for (i, chunk) in out.chunks_mut(ROWS_PER_TASK * n).enumerate() {
            tasks.push((*m, i * ROWS_PER_TASK, chunk));
        }
    }
    run_tasks(tasks, &|(m, first, out)| {
        m.rows_into(first, x, n, xq.as_ref(), out)
    })?;
    if n > 1 {
        for ((m, y), stage) in products.iter_mut().zip(&staging) {
            for (r, ys) in stage.chunks_exact(n).enumerate() {
                for (t, v) in ys.iter().enumerate() {
                    y[t * m.rows + r] = *v;
                }
            }
        }
    }
    Ok(())
}

/// One task: a matrix, its first row and the task's outputs.
type Task<'a> = (&'a CpuMatrix, usize, &'a mut [f32]);

/// Runs the tasks over the threads.
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
fn run_tasks<'a>(
    tasks: Vec<Task<'a>>,
    run: &(dyn Fn(Task<'a>) -> Result<()> + Sync),
) -> Result<()> {
    use rayon::prelude::*;
    tasks.into_par_iter().try_for_each(run)
}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
fn run_tasks<'a>(tasks: Vec<Task<'a>>, run: &dyn Fn(Task<'a>) -> Result<()>) -> Result<()> {
    tasks.into_iter().try_for_each(run)
}

/// `a · b`, in 8 independent lanes so the compiler vectorizes it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

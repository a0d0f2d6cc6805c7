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

/// Output rows computed per task: enough work per task to amortize the scheduling.
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
const ROWS_PER_TASK: usize = 64;

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

    /// `y[t, r] = x[t, :] · W[r, :]` for the `n` tokens of `x` (`[n, cols]`); `y` is
    /// `[n, rows]`. With `Activations::Int16`, one token and a format that has an integer
    /// dot, `x` is quantized to 16 bits first.
    pub fn matmul(
        &self,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        activations: Activations,
    ) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        if x.len() != n * cols || y.len() != n * rows {
            return Err(Error::InvalidRequest(format!(
                "product with '{}' [{rows}, {cols}] of {} inputs into {} outputs",
                self.name,
                x.len(),
                y.len()
            )));
        }
        let by_row = |out: &mut [f32]| -> Result<()> {
            if n == 1 && activations == Activations::Int16 && int16::supports(self.dtype) {
                let xq = Int16Rows::quantize(x, cols);
                self.rows_into(n, out, &|first, chunk| {
                    for (r, y) in (first..).zip(chunk.iter_mut()) {
                        *y = int16::dot(self.dtype, self.row_bytes(r), xq.row(0));
                    }
                    Ok(())
                })
            } else {
                self.rows_into(n, out, &|first, chunk| {
                    // Each row decoded once, then dotted with every token.
                    let mut w = vec![0.0f32; cols];
                    for (r, ys) in (first..).zip(chunk.chunks_exact_mut(n)) {
                        self.row(r, &mut w)?;
                        for (y, xt) in ys.iter_mut().zip(x.chunks_exact(cols)) {
                            *y = dot(&w, xt);
                        }
                    }
                    Ok(())
                })
            }
        };
        // One token: [rows, n] is already [n, rows].
        if n == 1 {
            return by_row(y);
        }
        // Rows in tasks; each task writes its rows of every token ([rows, n] order), then
        // the result is laid out as [n, rows].
        let mut out = vec![0.0f32; rows * n];
        by_row(&mut out)?;
        for (r, ys) in out.chunks_exact(n).enumerate() {
            for (t, v) in ys.iter().enumerate() {
                y[t * rows + r] = *v;
            }
        }
        Ok(())
    }

    /// The stored bytes of row `r`.
    fn row_bytes(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Fills `out` (`[rows, n]`) in tasks of rows, `rows(first row, its chunk of out)`,
    /// spread over threads.
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    fn rows_into(&self, n: usize, out: &mut [f32], rows: &RowsKernel<'_>) -> Result<()> {
        use rayon::prelude::*;
        out.par_chunks_mut(ROWS_PER_TASK * n)
            .enumerate()
            .try_for_each(|(task, chunk)| rows(task * ROWS_PER_TASK, chunk))
    }

    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    fn rows_into(&self, _n: usize, out: &mut [f32], rows: &RowsKernel<'_>) -> Result<()> {
        rows(0, out)
    }
}

/// Computes the outputs (`[rows, n]`) of the weight rows from a first one on.
type RowsKernel<'a> = dyn Fn(usize, &mut [f32]) -> Result<()> + Sync + 'a;

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

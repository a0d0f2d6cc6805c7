//! Routes the bytes of a data section into whole tensors. Shared by the GGUF and
//! safetensors readers: both know every tensor's offset and size once their header is
//! parsed, and then only need to cut the byte stream at the right places.

use crate::formats::{Piece, Tensor, TensorInfo};

/// Rows of a piece are a multiple of this (GPU weight layouts are built in blocks of 32
/// rows).
pub const PIECE_ROW_MULTIPLE: usize = 32;

pub(crate) struct TensorStream {
    /// Absolute file offset that tensor offsets are relative to.
    data_offset: u64,
    /// Tensors sorted by offset, without overlaps (the readers validate this).
    order: Vec<TensorInfo>,
    next: usize,
    /// Absolute file offset of the next byte fed.
    pos: u64,
    current: Vec<u8>,
    /// Sizes were checked against the file length, so they may be reserved up front.
    sizes_checked: bool,
    /// Tensors larger than this many bytes are handed out in pieces of whole rows.
    max_piece: Option<usize>,
    /// Rows of the current tensor already handed out.
    rows_done: usize,
}

impl TensorStream {
    /// `pos` is the absolute offset of the first byte that `consume` will see.
    pub(crate) fn new(
        mut tensors: Vec<TensorInfo>,
        data_offset: u64,
        pos: u64,
        sizes_checked: bool,
    ) -> Self {
        tensors.sort_by_key(|t| t.offset);
        TensorStream {
            data_offset,
            order: tensors,
            next: 0,
            pos,
            current: Vec::new(),
            sizes_checked,
            max_piece: None,
            rows_done: 0,
        }
    }

    /// Hands out tensors larger than `bytes` in pieces of whole rows (a multiple of
    /// `PIECE_ROW_MULTIPLE` rows, at least that many) instead of whole.
    pub(crate) fn with_pieces(mut self, bytes: Option<usize>) -> Self {
        self.max_piece = bytes;
        self
    }

    /// `(rows, bytes per row, rows per piece)` when `info` is cut into pieces.
    fn piece_plan(&self, info: &TensorInfo) -> Option<(usize, usize, usize)> {
        let max = self.max_piece?;
        let rows = *info.shape.first()?;
        if info.shape.len() < 2 || info.size <= max || rows == 0 || !info.size.is_multiple_of(rows)
        {
            return None;
        }
        let row_bytes = info.size / rows;
        let per_piece = (max / row_bytes / PIECE_ROW_MULTIPLE).max(1) * PIECE_ROW_MULTIPLE;
        (per_piece < rows).then_some((rows, row_bytes, per_piece))
    }

    /// The first tensor whose bytes have not all arrived.
    pub(crate) fn incomplete(&self) -> Option<&TensorInfo> {
        self.order.get(self.next)
    }

    /// Absolute offset of the next byte.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Consumes a chunk, appending every tensor it completes to `out`.
    pub(crate) fn consume(&mut self, mut chunk: &[u8], out: &mut Vec<Tensor>) {
        loop {
            let Some(info) = self.order.get(self.next) else {
                // Bytes after the last tensor (padding) are ignored.
                self.pos += chunk.len() as u64;
                return;
            };
            let start = self.data_offset.saturating_add(info.offset);
            if self.pos < start {
                let skip = (start - self.pos).min(chunk.len() as u64);
                self.pos += skip;
                chunk = &chunk[skip as usize..];
                if self.pos < start {
                    return;
                }
            }
            let plan = self.piece_plan(info);
            // Bytes of what is handed out next: the next piece, or the whole tensor.
            let target = match plan {
                Some((rows, row_bytes, per_piece)) => {
                    per_piece.min(rows - self.rows_done) * row_bytes
                }
                None => info.size,
            };
            if self.current.is_empty() {
                // A size checked against the file length is reserved up front. Otherwise the
                // buffer grows with the bytes that arrive, after at most a piece's usual
                // size: a header alone must not make the reader allocate for bytes that may
                // never come, and a piece of rows declared huge is far larger than
                // `max_piece` (it has at least `PIECE_ROW_MULTIPLE` rows).
                let up_front = match (self.sizes_checked, plan, self.max_piece) {
                    (true, _, _) => target,
                    (false, Some(_), Some(max)) => target.min(max),
                    _ => 0,
                };
                self.current.reserve_exact(up_front);
            }
            let take = (target - self.current.len()).min(chunk.len());
            self.current.extend_from_slice(&chunk[..take]);
            self.pos += take as u64;
            chunk = &chunk[take..];
            if self.current.len() < target {
                return;
            }
            let data = std::mem::take(&mut self.current);
            match plan {
                Some((rows, row_bytes, _)) => {
                    let n = data.len() / row_bytes;
                    let mut shape = info.shape.clone();
                    shape[0] = n;
                    out.push(Tensor {
                        name: info.name.clone(),
                        dtype: info.dtype,
                        shape,
                        data,
                        piece: Some(Piece {
                            first_row: self.rows_done,
                            total_rows: rows,
                        }),
                    });
                    self.rows_done += n;
                    if self.rows_done < rows {
                        continue;
                    }
                    self.rows_done = 0;
                }
                None => out.push(Tensor {
                    name: info.name.clone(),
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    data,
                    piece: None,
                }),
            }
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::DType;

    /// 64 rows of 2^40 bytes: a piece (32 rows) declares 32 TiB.
    fn huge_rows() -> TensorInfo {
        TensorInfo {
            name: "huge".into(),
            dtype: DType::F32,
            shape: vec![64, 1 << 38],
            offset: 0,
            size: 1 << 46,
        }
    }

    #[test]
    fn unchecked_sizes_are_not_reserved_up_front() {
        let mut stream = TensorStream::new(vec![huge_rows()], 0, 0, false).with_pieces(Some(1024));
        let mut out = Vec::new();
        stream.consume(&[7u8; 64], &mut out);
        assert!(out.is_empty());
        assert!(
            stream.current.capacity() <= 1024,
            "{}",
            stream.current.capacity()
        );
        assert_eq!(stream.current.len(), 64);
    }
}

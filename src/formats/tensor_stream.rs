//! Routes the bytes of a data section into whole tensors. Shared by the GGUF and
//! safetensors readers: both know every tensor's offset and size once their header is
//! parsed, and then only need to cut the byte stream at the right places.

use crate::formats::{Tensor, TensorInfo};

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
        }
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
            if self.current.is_empty() && self.sizes_checked {
                // Without a checked size the buffer grows with the bytes that arrive.
                self.current.reserve_exact(info.size);
            }
            let take = (info.size - self.current.len()).min(chunk.len());
            self.current.extend_from_slice(&chunk[..take]);
            self.pos += take as u64;
            chunk = &chunk[take..];
            if self.current.len() < info.size {
                return;
            }
            out.push(Tensor {
                name: info.name.clone(),
                dtype: info.dtype,
                shape: info.shape.clone(),
                data: std::mem::take(&mut self.current),
            });
            self.next += 1;
        }
    }
}

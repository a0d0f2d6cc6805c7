//! Uniform buffer layouts shared by the WGSL kernels. Each Rust struct here is the single
//! source of truth for the WGSL struct of the same name (`Step`, `Shard`); a test parses
//! every shader with naga and checks member names and offsets against these.

use bytemuck::{Pod, Zeroable};

/// Per-step values, written once per forward chunk (`struct Step` in WGSL).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Step {
    /// Position of the first token of the chunk.
    pub pos: u32,
    /// Tokens in the chunk.
    pub n_tokens: u32,
    pub pad0: u32,
    pub pad1: u32,
}

impl Step {
    /// `n_tokens` tokens from position `pos` (both fit u32: `check_context` bounds them).
    pub fn new(pos: usize, n_tokens: usize) -> Self {
        Self {
            pos: pos as u32,
            n_tokens: n_tokens as u32,
            ..Default::default()
        }
    }
}

/// Which rows of a row-sharded matrix one binding holds; `row_start` is the output row
/// of the shard's first row (`struct Shard` in WGSL). Written
/// once at load time, one buffer per shard.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Shard {
    /// Output row of the first row held by this shard.
    pub row_start: u32,
    /// Rows in this shard.
    pub n_rows: u32,
    /// Groups per row of the blocked layout (`gpu::weights`).
    pub n_groups: u32,
    pub pad1: u32,
}

/// `(WGSL struct name, [(member, byte offset)])` of every uniform struct, for the layout test.
pub fn layouts() -> [(&'static str, Vec<(&'static str, u32)>); 2] {
    [
        (
            "Step",
            vec![
                ("pos", std::mem::offset_of!(Step, pos) as u32),
                ("n_tokens", std::mem::offset_of!(Step, n_tokens) as u32),
                ("pad0", std::mem::offset_of!(Step, pad0) as u32),
                ("pad1", std::mem::offset_of!(Step, pad1) as u32),
            ],
        ),
        (
            "Shard",
            vec![
                ("row_start", std::mem::offset_of!(Shard, row_start) as u32),
                ("n_rows", std::mem::offset_of!(Shard, n_rows) as u32),
                ("n_groups", std::mem::offset_of!(Shard, n_groups) as u32),
                ("pad1", std::mem::offset_of!(Shard, pad1) as u32),
            ],
        ),
    ]
}

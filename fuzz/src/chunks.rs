//! The input of the push-parser targets: `[flags][8 chunk-size bytes][file bytes]`. The
//! file is fed in chunks whose sizes cycle through the 8 size bytes, so the fuzzer controls
//! where every chunk boundary falls (inside a length prefix, a string, a tensor, ...).

/// Bytes before the file: one flag byte and eight chunk-size bytes.
pub const PREFIX_LEN: usize = 9;

pub struct ChunkedInput<'a> {
    /// Free for the target (whether the reader knows the file length, piece sizes, ...).
    pub flags: u8,
    sizes: [u8; 8],
    pub file: &'a [u8],
}

impl<'a> ChunkedInput<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (prefix, file) = data.split_at_checked(PREFIX_LEN)?;
        let mut sizes = [0u8; 8];
        sizes.copy_from_slice(&prefix[1..]);
        Some(ChunkedInput {
            flags: prefix[0],
            sizes,
            file,
        })
    }

    /// The file cut at the fuzzer's chunk boundaries.
    pub fn chunks(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let mut rest = self.file;
        let mut i = 0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let n = chunk_len(self.sizes[i % self.sizes.len()]).min(rest.len());
            i += 1;
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            Some(chunk)
        })
    }
}

/// 0..=127: 1 to 128 bytes (boundaries inside every field); 128..=254: multiples of 4 KiB
/// up to 508 KiB (network-sized reads); 255: the rest of the file.
fn chunk_len(b: u8) -> usize {
    match b {
        0..=127 => usize::from(b) + 1,
        128..=254 => (usize::from(b) - 127) * 4096,
        255 => usize::MAX,
    }
}

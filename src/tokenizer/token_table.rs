//! The raw bytes behind every token id. Decoding works on bytes, never on the vocabulary's
//! display strings: byte-level BPE stores bytes as printable stand-in characters, and
//! SentencePiece stores spaces as `▁` and single bytes as `<0xXX>` pieces.

/// How the vocabulary's strings spell a token's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PieceSpelling {
    /// GPT-2 byte-level BPE: every byte is one printable character (`Ġ` is a space).
    ByteLevel,
    /// SentencePiece: `▁` is a space, `<0xXX>` is the byte 0xXX, anything else is UTF-8.
    SentencePiece,
    /// The string is the text itself.
    Plain,
}

/// Bytes of every token, stored flat: token `i` is `bytes[ends[i-1]..ends[i]]`.
#[derive(Debug, Clone)]
pub(crate) struct TokenTable {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    special: Vec<bool>,
    /// SentencePiece models prepend a space to the text they encode; decoding drops the
    /// first space of the output again.
    strip_leading_space: bool,
}

impl TokenTable {
    /// `pieces` yields, for every id in order, the vocabulary string (None for a hole in
    /// the id space) and whether the token is special (control/unknown: never printed).
    pub(crate) fn build<S: AsRef<str>>(
        pieces: impl Iterator<Item = (Option<S>, bool)>,
        spelling: PieceSpelling,
        strip_leading_space: bool,
    ) -> Self {
        let byte_of_char = gpt2_char_to_byte_table();
        let mut table = TokenTable {
            bytes: Vec::new(),
            ends: Vec::new(),
            special: Vec::new(),
            strip_leading_space,
        };
        let (n, _) = pieces.size_hint();
        table.ends.reserve_exact(n);
        table.special.reserve_exact(n);
        for (piece, special) in pieces {
            if let Some(piece) = piece.as_ref().map(AsRef::as_ref) {
                if special {
                    // Specials are printed by nobody, but their text is still useful to
                    // callers of `token_bytes` (e.g. to show `<|im_end|>`).
                    table.bytes.extend_from_slice(piece.as_bytes());
                } else {
                    match spelling {
                        PieceSpelling::ByteLevel => {
                            push_byte_level(&mut table.bytes, piece, &byte_of_char)
                        }
                        PieceSpelling::SentencePiece => push_sentencepiece(&mut table.bytes, piece),
                        PieceSpelling::Plain => table.bytes.extend_from_slice(piece.as_bytes()),
                    }
                }
            }
            table.ends.push(table.bytes.len());
            table.special.push(special);
        }
        table
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn bytes(&self, id: u32) -> Option<&[u8]> {
        let i = usize::try_from(id).ok()?;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.bytes.get(start..end)
    }

    pub(crate) fn is_special(&self, id: u32) -> bool {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.special.get(i).copied())
            .unwrap_or(false)
    }

    pub(crate) fn strip_leading_space(&self) -> bool {
        self.strip_leading_space
    }
}

/// The GPT-2 byte↔character map, reversed. GPT-2 maps the 188 printable bytes
/// (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) to the character with the same code point and the
/// other 68 bytes, in increasing order, to U+0100, U+0101, ... . Indexed by code point.
fn gpt2_char_to_byte_table() -> [Option<u8>; 256 + 68] {
    let mut table = [None; 256 + 68];
    let mut next_stand_in = 256usize;
    for byte in 0..=255u8 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let code_point = if printable {
            usize::from(byte)
        } else {
            next_stand_in += 1;
            next_stand_in - 1
        };
        if let Some(slot) = table.get_mut(code_point) {
            *slot = Some(byte);
        }
    }
    table
}

/// Like the Hugging Face ByteLevel decoder: a piece whose characters all belong to the
/// byte map becomes those bytes; any other piece (an added token such as `<|im_start|>`
/// written in plain text) is taken as its UTF-8.
fn push_byte_level(out: &mut Vec<u8>, piece: &str, byte_of_char: &[Option<u8>]) {
    let start = out.len();
    for c in piece.chars() {
        match usize::try_from(u32::from(c))
            .ok()
            .and_then(|i| byte_of_char.get(i).copied().flatten())
        {
            Some(b) => out.push(b),
            None => {
                out.truncate(start);
                out.extend_from_slice(piece.as_bytes());
                return;
            }
        }
    }
}

fn push_sentencepiece(out: &mut Vec<u8>, piece: &str) {
    if let Some(byte) = parse_byte_piece(piece) {
        out.push(byte);
        return;
    }
    for c in piece.chars() {
        if c == '▁' {
            out.push(b' ');
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// `<0xXX>` → the byte 0xXX.
fn parse_byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_map_covers_every_byte_once() {
        let table = gpt2_char_to_byte_table();
        let mut seen = [false; 256];
        for b in table.iter().flatten() {
            assert!(!seen[usize::from(*b)], "byte {b} mapped twice");
            seen[usize::from(*b)] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(table['Ġ' as usize], Some(b' '));
        assert_eq!(table['Ċ' as usize], Some(b'\n'));
        assert_eq!(table['A' as usize], Some(b'A'));
    }

    #[test]
    fn sentencepiece_pieces() {
        let table = TokenTable::build(
            [
                (Some("▁hello"), false),
                (Some("<0xE6>"), false),
                (Some("<s>"), true),
                (None, false),
            ]
            .into_iter(),
            PieceSpelling::SentencePiece,
            true,
        );
        assert_eq!(table.bytes(0), Some(&b" hello"[..]));
        assert_eq!(table.bytes(1), Some(&[0xE6u8][..]));
        assert_eq!(table.bytes(2), Some(&b"<s>"[..]));
        assert!(table.is_special(2));
        assert_eq!(table.bytes(3), Some(&b""[..]));
        assert_eq!(table.bytes(4), None);
        assert!(!table.is_special(4));
    }
}

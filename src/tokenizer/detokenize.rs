//! Incremental detokenization for streaming: one token in, only complete characters out.
//!
//! A token is a run of bytes, not of characters: byte-level BPE splits a Chinese
//! character or an emoji over two or three tokens. The detokenizer collects raw bytes and
//! hands out the longest prefix that is valid UTF-8, keeping an unfinished character for
//! the next token. Bytes that can never become valid UTF-8 turn into one U+FFFD per
//! invalid sequence, exactly as `String::from_utf8_lossy` (and so `Tokenizer::decode`)
//! does on the whole output.

use std::sync::Arc;

use super::token_table::TokenTable;

/// Streams text out of generated token ids. Get one from [`super::Tokenizer::detokenizer`].
#[derive(Debug, Clone)]
pub struct Detokenizer {
    table: Arc<TokenTable>,
    /// Bytes received but not yet returned: at most an unfinished UTF-8 sequence.
    pending: Vec<u8>,
    /// No byte of text has been produced yet (SentencePiece drops the first space).
    at_start: bool,
    /// Special tokens printed all the same (a tool-call syntax's markers).
    printed_special: Vec<u32>,
}

impl Detokenizer {
    pub(crate) fn new(table: Arc<TokenTable>) -> Self {
        Detokenizer {
            table,
            pending: Vec::new(),
            at_start: true,
            printed_special: Vec::new(),
        }
    }

    /// Prints special token `id` as its text instead of dropping it: Qwen's `<tool_call>`
    /// is a control token, yet the answer's tool calls are read from it.
    pub fn print_special(&mut self, id: u32) {
        self.printed_special.push(id);
    }

    /// Adds one token and returns the text it completes: possibly empty (a special token,
    /// an id outside the vocabulary, or the first bytes of a multi-byte character).
    pub fn push(&mut self, id: u32) -> String {
        if self.table.is_special(id) && !self.printed_special.contains(&id) {
            return String::new();
        }
        let Some(mut bytes) = self.table.bytes(id) else {
            return String::new();
        };
        if self.at_start && !bytes.is_empty() {
            self.at_start = false;
            if self.table.strip_leading_space() {
                if let Some(rest) = bytes.strip_prefix(b" ") {
                    bytes = rest;
                }
            }
        }
        self.pending.extend_from_slice(bytes);
        self.take_text(false)
    }

    /// Ends the stream: returns what is left, with an unfinished character as U+FFFD.
    /// The detokenizer can then start a new stream.
    pub fn flush(&mut self) -> String {
        let text = self.take_text(true);
        self.at_start = true;
        text
    }

    /// Whether bytes of an unfinished character are waiting for the next token.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves the longest complete text out of `pending`. With `at_end`, an unfinished
    /// sequence at the end is invalid too.
    fn take_text(&mut self, at_end: bool) -> String {
        let mut text = String::new();
        let mut consumed = 0;
        while consumed < self.pending.len() {
            let rest = &self.pending[consumed..];
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    consumed = self.pending.len();
                }
                Err(err) => {
                    let (valid, after) = rest.split_at(err.valid_up_to());
                    // `valid` is exactly the prefix the error reported as valid UTF-8.
                    text.push_str(&String::from_utf8_lossy(valid));
                    consumed += valid.len();
                    match err.error_len() {
                        Some(invalid_len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            consumed += invalid_len;
                        }
                        None if at_end => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            consumed += after.len();
                        }
                        // An unfinished character: wait for the next token's bytes.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::super::token_table::PieceSpelling;
    use super::*;

    fn detokenizer(pieces: &[(&str, bool)], spelling: PieceSpelling, strip: bool) -> Detokenizer {
        let table = TokenTable::build(pieces.iter().map(|(p, s)| (Some(*p), *s)), spelling, strip);
        Detokenizer::new(Arc::new(table))
    }

    #[test]
    fn holds_a_split_character_until_complete() {
        // "我" is E6 88 91.
        let mut d = detokenizer(
            &[
                ("<0xE6>", false),
                ("<0x88>", false),
                ("<0x91>", false),
                ("▁a", false),
            ],
            PieceSpelling::SentencePiece,
            false,
        );
        assert_eq!(d.push(0), "");
        assert!(d.has_pending());
        assert_eq!(d.push(1), "");
        assert_eq!(d.push(2), "我");
        assert_eq!(d.push(3), " a");
        assert_eq!(d.flush(), "");
    }

    #[test]
    fn invalid_bytes_become_one_replacement_each_sequence() {
        let mut d = detokenizer(
            &[
                ("<0xFF>", false),
                ("<0xE6>", false),
                ("▁x", false),
                ("<s>", true),
            ],
            PieceSpelling::SentencePiece,
            false,
        );
        assert_eq!(d.push(0), "\u{FFFD}");
        assert_eq!(d.push(1), "");
        assert_eq!(d.push(3), "");
        // E6 followed by a space can never complete.
        assert_eq!(d.push(2), "\u{FFFD} x");
        assert_eq!(d.push(1), "");
        assert_eq!(d.flush(), "\u{FFFD}");
        let mut bytes = vec![0xFF, 0xE6];
        bytes.extend_from_slice(b" x");
        bytes.push(0xE6);
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "\u{FFFD}\u{FFFD} x\u{FFFD}"
        );
    }

    #[test]
    fn sentencepiece_drops_first_space_only() {
        let mut d = detokenizer(
            &[("<s>", true), ("▁Hello", false), ("▁world", false)],
            PieceSpelling::SentencePiece,
            true,
        );
        assert_eq!(d.push(0), "");
        assert_eq!(d.push(1), "Hello");
        assert_eq!(d.push(2), " world");
        assert_eq!(d.push(99), "");
    }
}

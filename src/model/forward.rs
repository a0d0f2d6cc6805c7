//! What every backend's forward pass takes and gives back.

use crate::error::{Error, Result};

/// What `forward` reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardOutput {
    /// The logits of the last token.
    LastLogits,
    /// The logits of every token (for perplexity).
    AllLogits,
    /// Only the argmax of the last token's logits (4 bytes read back from a GPU).
    Argmax,
    /// The argmax, as `Argmax`, when the caller means to feed it back as the next token
    /// (greedy decoding): a GPU queues that next step at once, fed on the device with this
    /// argmax, so it runs while the caller reads this one back and decides. A next call
    /// that feeds exactly that token at that position takes its result instead of running
    /// it again; any other call discards it (it only wrote the cache past the positions
    /// that call reads).
    ArgmaxAhead,
}

impl ForwardOutput {
    /// Whether only the argmax is read back.
    pub fn is_argmax(self) -> bool {
        matches!(self, ForwardOutput::Argmax | ForwardOutput::ArgmaxAhead)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ForwardResult {
    /// `[n_vocab]`.
    LastLogits(Vec<f32>),
    /// `[n_tokens * n_vocab]`, row-major.
    AllLogits(Vec<f32>),
    /// The id of the largest logit of the last token (ties: lowest id).
    Argmax(u32),
}

/// Checks a context length a model is built for: at least one token, and positions that
/// fit the kernels' u32 arithmetic.
pub fn check_context(max_context: usize) -> Result<()> {
    if max_context == 0 || max_context > u32::MAX as usize / 2 {
        return Err(Error::InvalidRequest(format!(
            "context length {max_context}"
        )));
    }
    Ok(())
}

/// Checks a forward request: some tokens, all in the vocabulary, within the context.
pub fn check_request(tokens: &[u32], pos: usize, max_context: usize, n_vocab: usize) -> Result<()> {
    if tokens.is_empty() {
        return Err(Error::InvalidRequest("no tokens to run".into()));
    }
    let needed = pos.saturating_add(tokens.len());
    if needed > max_context {
        return Err(Error::ContextOverflow {
            needed,
            limit: max_context,
        });
    }
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
        return Err(Error::InvalidRequest(format!(
            "token id {bad} is outside the vocabulary of {n_vocab}"
        )));
    }
    Ok(())
}

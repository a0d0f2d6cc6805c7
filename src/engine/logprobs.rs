//! The log-probabilities of a step in the shape the API reports: token ids with their text
//! and bytes, from the sampler's log-softmax.

use crate::sampler::logprobs;
use crate::tokenizer::Tokenizer;

use super::request::{StepLogprobs, TokenLogprob};

/// The log-probabilities of `token` and of the `top_n` most likely tokens, from the logits
/// the sampler left (bias and penalties applied, no temperature).
pub(crate) fn step_logprobs(
    tokenizer: &Tokenizer,
    logits: &[f32],
    token: u32,
    top_n: usize,
) -> StepLogprobs {
    let computed = logprobs(logits, token, top_n);
    let entry = |id: u32, logprob: f32| {
        let bytes = tokenizer.token_bytes(id).unwrap_or_default().to_vec();
        TokenLogprob {
            id,
            token: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            logprob,
        }
    };
    StepLogprobs {
        sampled: entry(token, computed.logprob),
        top: computed
            .top
            .into_iter()
            .map(|(id, logprob)| entry(id, logprob))
            .collect(),
    }
}

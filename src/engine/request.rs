//! The shapes that cross the engine's boundary: a generation request (OpenAI-like fields),
//! one step of output, usage counts.

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;
use crate::error::{Error, Result};
use crate::sampler::SamplingParams;

/// A generation request. Exactly one of `messages` (chat, rendered with the model's
/// template), `prompt` (raw text) or `prompt_tokens` (token ids, used as given) is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateRequest {
    pub messages: Option<Vec<ChatMessage>>,
    pub prompt: Option<String>,
    pub prompt_tokens: Option<Vec<u32>>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub seed: Option<u64>,
    /// Upper bound on generated tokens; by default, what is left of the context.
    pub max_tokens: Option<usize>,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence tokens (benchmarks).
    pub ignore_eos: bool,
}

impl GenerateRequest {
    pub fn sampling(&self) -> SamplingParams {
        let d = SamplingParams::default();
        SamplingParams {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p: self.top_p.unwrap_or(d.top_p),
            min_p: self.min_p.unwrap_or(d.min_p),
            repetition_penalty: self.repetition_penalty.unwrap_or(d.repetition_penalty),
            seed: self.seed,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let sources = [
            self.messages.is_some(),
            self.prompt.is_some(),
            self.prompt_tokens.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(Error::InvalidRequest(
                "give exactly one of `messages`, `prompt` or `prompt_tokens`".into(),
            ));
        }
        if self.messages.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(Error::InvalidRequest("`messages` is empty".into()));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::InvalidRequest(
                "`max_tokens` must be at least 1".into(),
            ));
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return Err(Error::InvalidRequest("a `stop` string is empty".into()));
        }
        self.sampling().validate()
    }
}

/// Why a generation ended (OpenAI's `finish_reason`, plus `abort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// End-of-sequence / end-of-turn token, or a stop string.
    Stop,
    /// `max_tokens` reached, or the context is full.
    Length,
    /// `Engine::abort` was called.
    Abort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

/// Timings of the current generation, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Prompt tokens actually computed (a prefix shared with the previous turn is reused).
    pub prefill_tokens: usize,
    pub prefill_ms: f64,
    /// Tokens decoded after the first one.
    pub decode_tokens: usize,
    pub decode_ms: f64,
}

/// One step of output. `delta` holds only complete UTF-8; on the last step
/// `finish_reason`, `usage` and `timings` are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    pub delta: String,
    /// The token sampled in this step (none on a step that only ends the generation).
    pub token: Option<u32>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Option<Usage>,
    pub timings: Option<Timings>,
}

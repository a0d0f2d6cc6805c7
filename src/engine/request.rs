//! The shapes that cross the engine's boundary: a generation request (OpenAI-like fields),
//! one step of output, usage counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, ToolCall};
use crate::error::{Error, Result};
use crate::sampler::{SamplingParams, MAX_TOP_LOGPROBS};

/// A generation request. Exactly one of `messages` (chat, rendered with the model's
/// template), `prompt` (raw text) or `prompt_tokens` (token ids, used as given) is set.
/// A field this struct does not have is an error naming it, never ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateRequest {
    pub messages: Option<Vec<ChatMessage>>,
    pub prompt: Option<String>,
    pub prompt_tokens: Option<Vec<u32>>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    /// OpenAI's, in [-2, 2]: see `SamplingParams::frequency_penalty`.
    pub frequency_penalty: Option<f32>,
    /// OpenAI's, in [-2, 2]: see `SamplingParams::presence_penalty`.
    pub presence_penalty: Option<f32>,
    /// OpenAI's: token id (a decimal string, as JSON object keys are) → bias in
    /// [-100, 100] added to its logit; -100 bans the token.
    pub logit_bias: BTreeMap<String, f32>,
    pub seed: Option<u64>,
    /// Upper bound on generated tokens; by default, what is left of the context.
    pub max_tokens: Option<usize>,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence tokens (benchmarks).
    pub ignore_eos: bool,
    /// Report each generated token's log-probability and those of the `n` most likely
    /// tokens at its step (n ≤ 20); `None` reports none.
    pub logprobs: Option<usize>,
    /// OpenAI's tool objects (`{"type": "function", "function": {"name", "description",
    /// "parameters"}}`), given to the chat template as `tools`.
    pub tools: Vec<serde_json::Value>,
    /// Whether the answer calls a tool: `"auto"` (the model decides; the default),
    /// `"none"`, `"required"`, or one function by name.
    pub tool_choice: Option<ToolChoice>,
    /// OpenAI's: `{"type": "text"}` (the default), `{"type": "json_object"}` (any JSON
    /// object) or `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`;
    /// the answer is constrained to it while it is generated.
    pub response_format: Option<ResponseFormat>,
}

/// OpenAI's `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Absent: any JSON value.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    /// Accepted; the schema is always followed exactly.
    #[serde(default)]
    pub strict: Option<bool>,
}

impl ResponseFormat {
    /// The JSON schema the answer follows; `None` for free text.
    pub fn schema(&self) -> Option<serde_json::Value> {
        match self {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(serde_json::json!({ "type": "object" })),
            ResponseFormat::JsonSchema { json_schema } => Some(
                json_schema
                    .schema
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({})),
            ),
        }
    }
}

/// OpenAI's `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `"auto"`, `"none"` or `"required"`.
    Mode(String),
    /// `{"type": "function", "function": {"name": ...}}`.
    Function {
        #[serde(rename = "type")]
        kind: String,
        function: FunctionName,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionName {
    pub name: String,
}

impl GenerateRequest {
    /// The tools the template describes (none with `tool_choice: "none"`), and the call
    /// the answer must make: `Some(None)` for any function, `Some(Some(name))` for one.
    pub(crate) fn tool_use(&self) -> (&[serde_json::Value], Option<Option<&str>>) {
        match &self.tool_choice {
            _ if self.tools.is_empty() => (&[], None),
            Some(ToolChoice::Mode(mode)) if mode == "none" => (&[], None),
            Some(ToolChoice::Mode(mode)) if mode == "required" => (&self.tools, Some(None)),
            Some(ToolChoice::Function { function, .. }) => {
                (&self.tools, Some(Some(function.name.as_str())))
            }
            _ => (&self.tools, None),
        }
    }

    fn validate_tools(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidRequest(message));
        let mut names = Vec::new();
        for (i, tool) in self.tools.iter().enumerate() {
            let name = tool.pointer("/function/name").and_then(|n| n.as_str());
            match (tool.get("type").and_then(|t| t.as_str()), name) {
                (Some("function"), Some(name)) if !name.is_empty() => names.push(name),
                _ => {
                    return invalid(format!(
                        "tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
                    ))
                }
            }
        }
        if !self.tools.is_empty() && self.messages.is_none() {
            return invalid("tools need `messages`: a chat template describes them".into());
        }
        match &self.tool_choice {
            None => Ok(()),
            Some(ToolChoice::Mode(mode)) => match mode.as_str() {
                "auto" | "none" => Ok(()),
                "required" if !self.tools.is_empty() => Ok(()),
                "required" => invalid("tool_choice \"required\" needs `tools`".into()),
                other => invalid(format!(
                    "tool_choice must be \"auto\", \"none\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, got {other:?}"
                )),
            },
            Some(ToolChoice::Function { kind, function }) => {
                if kind != "function" {
                    return invalid(format!("tool_choice.type must be \"function\", got {kind:?}"));
                }
                if !names.contains(&function.name.as_str()) {
                    return invalid(format!(
                        "tool_choice names {:?}, which is not among `tools`",
                        function.name
                    ));
                }
                Ok(())
            }
        }
    }

    /// The sampler's settings; fails on a `logit_bias` key that is not a token id.
    pub fn sampling(&self) -> Result<SamplingParams> {
        let d = SamplingParams::default();
        let logit_bias = self
            .logit_bias
            .iter()
            .map(|(key, &bias)| match key.trim().parse::<u32>() {
                Ok(token) => Ok((token, bias)),
                Err(_) => Err(Error::InvalidRequest(format!(
                    "logit_bias key {key:?} is not a token id"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SamplingParams {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p: self.top_p.unwrap_or(d.top_p),
            min_p: self.min_p.unwrap_or(d.min_p),
            repetition_penalty: self.repetition_penalty.unwrap_or(d.repetition_penalty),
            frequency_penalty: self.frequency_penalty.unwrap_or(d.frequency_penalty),
            presence_penalty: self.presence_penalty.unwrap_or(d.presence_penalty),
            logit_bias,
            seed: self.seed,
        })
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
        if let Some(n) = self.logprobs.filter(|&n| n > MAX_TOP_LOGPROBS) {
            return Err(Error::InvalidRequest(format!(
                "`logprobs` asks for {n} alternatives; at most {MAX_TOP_LOGPROBS} are reported"
            )));
        }
        self.validate_tools()?;
        let constrained = self
            .response_format
            .as_ref()
            .and_then(ResponseFormat::schema);
        if constrained.is_some() && !self.tool_use().0.is_empty() {
            return Err(Error::InvalidRequest(
                "response_format with tools is not supported yet: give one of them".into(),
            ));
        }
        self.sampling()?.validate()
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
    /// The answer ends with tool calls (`Step::tool_calls`).
    #[serde(rename = "tool_calls")]
    ToolCalls,
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
    /// Grammar masks computed (one per token of a constrained answer) and their time.
    pub mask_count: usize,
    pub mask_ms: f64,
}

/// A token with its log-probability, as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub id: u32,
    /// Its text; a token holding only part of a character shows U+FFFD for it.
    pub token: String,
    /// Its exact bytes (a special token: its text).
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// The log-probabilities of one step: the log-softmax of the logits the token was drawn
/// from, after logit bias and penalties, before temperature and truncation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLogprobs {
    /// The token sampled in this step.
    pub sampled: TokenLogprob,
    /// The most likely tokens at this step, most likely first (the request's `logprobs`).
    pub top: Vec<TokenLogprob>,
}

/// One step of output. `delta` holds only complete UTF-8; on the last step
/// `finish_reason`, `usage` and `timings` are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Step {
    pub delta: String,
    /// The token sampled in this step (none on a step that only ends the generation).
    pub token: Option<u32>,
    /// The log-probabilities of `token`, when the request asked for them.
    pub logprobs: Option<StepLogprobs>,
    /// On the last step of an answer that called tools: the calls.
    pub tool_calls: Option<Vec<ToolCall>>,
    pub finish_reason: Option<FinishReason>,
    pub usage: Option<Usage>,
    pub timings: Option<Timings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<GenerateRequest, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn invalid(request: GenerateRequest) -> String {
        match request.validate() {
            Err(Error::InvalidRequest(message)) => message,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_it() {
        let error = parse(r#"{"prompt": "hi", "functions": []}"#).unwrap_err();
        assert!(error.contains("functions"), "{error}");
    }

    #[test]
    fn openai_sampling_fields_reach_the_sampler() {
        let request = parse(
            r#"{"prompt": "hi", "frequency_penalty": 0.5, "presence_penalty": -1,
                "logit_bias": {"42": 100, " 7": -100}, "logprobs": 3}"#,
        )
        .unwrap();
        request.validate().unwrap();
        let sampling = request.sampling().unwrap();
        assert_eq!(sampling.frequency_penalty, 0.5);
        assert_eq!(sampling.presence_penalty, -1.0);
        assert_eq!(sampling.logit_bias, [(7, -100.0), (42, 100.0)]);
        assert!(!sampling.is_plain_greedy());
        assert_eq!(request.logprobs, Some(3));
    }

    #[test]
    fn bad_logit_bias_and_logprobs_are_rejected_by_name() {
        let with = |json: &str| parse(json).unwrap();
        let message = invalid(with(r#"{"prompt": "hi", "logit_bias": {"the": 1}}"#));
        assert!(
            message.contains("logit_bias") && message.contains("the"),
            "{message}"
        );
        let message = invalid(with(r#"{"prompt": "hi", "logit_bias": {"3": 150}}"#));
        assert!(message.contains("logit_bias"), "{message}");
        let message = invalid(with(r#"{"prompt": "hi", "logprobs": 21}"#));
        assert!(message.contains("logprobs"), "{message}");
        let message = invalid(with(r#"{"prompt": "hi", "presence_penalty": 3}"#));
        assert!(message.contains("presence_penalty"), "{message}");
    }
}

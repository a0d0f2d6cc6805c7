//! The engine: prefill and decode with the KV cache, sampling, incremental detokenization,
//! stop conditions, abort and usage counts. One token per [`Engine::step`], so a caller
//! (the CLI, or the browser worker between awaits) can stream and abort between tokens.

mod answer;
mod load;
mod logprobs;
mod request;
mod stop;

pub use load::{EngineLoader, LoadOptions, LoadProgress, DEFAULT_CONTEXT};
pub use request::{
    FinishReason, FunctionName, GenerateRequest, JsonSchemaFormat, ResponseFormat, Step,
    StepLogprobs, Timings, TokenLogprob, ToolChoice, Usage,
};

use serde::Serialize;
use web_time::Instant;

use crate::backend::gpu::DecodeCost;
use crate::backend::{Backend, BackendInfo, Model};
use crate::chat::{call_schema, ChatMessage, ChatTemplate, ToolCallSyntax};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::grammar::{Constraint, Grammars};
use crate::model::forward::{ForwardOutput, ForwardResult};
use crate::model::{ModelConfig, ModelHeader};
use crate::sampler::Sampler;
use crate::tokenizer::{Detokenizer, Tokenizer};
use answer::Answer;
use stop::StopOutcome;

/// What a loaded model is, for `hearth info`, the JS `Engine.info` and the bench page.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: Option<String>,
    pub format: String,
    pub config: ModelConfig,
    pub n_params: u64,
    pub context_length: usize,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub has_chat_template: bool,
    /// What runs the model: `webgpu` on an adapter, or `cpu`.
    pub backend: BackendInfo,
    /// The adapter (GPU) or threads (CPU): `backend.device`.
    pub adapter: String,
    /// The kernel shape chosen for the adapter (`lanes` for CPU adapters, `split-k`), or how
    /// the CPU computes products: `backend.kernels`.
    pub kernels: String,
    /// What one decode step dispatches and reads.
    pub cost: DecodeCost,
}

impl ModelInfo {
    fn new(
        header: &ModelHeader,
        tokenizer: &Tokenizer,
        backend: &Backend,
        context: usize,
        cost: DecodeCost,
    ) -> Self {
        let backend = backend.info();
        ModelInfo {
            name: header.config.name.clone(),
            format: header.source_format.to_string(),
            config: header.config.clone(),
            n_params: header.tensors.iter().map(|t| t.n_elements() as u64).sum(),
            context_length: context,
            bos_id: tokenizer.bos_id(),
            eos_id: tokenizer.eos_id(),
            has_chat_template: matches!(header.chat_template(), Ok(Some(_))),
            adapter: backend.device.clone(),
            kernels: backend.kernels.clone(),
            backend,
            cost,
        }
    }
}

/// The state of one generation.
struct Generation {
    /// Tokens to feed into the model before the next sample (the prompt's uncached tail, then
    /// each sampled token).
    to_feed: Vec<u32>,
    sampler: Sampler,
    /// Only the argmax is needed (no logit changes, no log-probabilities): the GPU computes
    /// it without reading the logits back.
    greedy_on_gpu: bool,
    /// How many alternatives each step's log-probabilities list; `None`: no logprobs.
    logprobs: Option<usize>,
    detok: Detokenizer,
    /// Content (cut at stop strings) and tool calls of the text generated so far.
    answer: Answer,
    /// The grammar the answer follows (`response_format`, a required tool call).
    constraint: Option<Constraint>,
    max_tokens: usize,
    ignore_eos: bool,
    usage: Usage,
    timings: Timings,
    aborted: bool,
}

pub struct Engine {
    model: Model,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    info: ModelInfo,
    add_bos: bool,
    /// Tokens whose keys and values are in the KV cache, in order: a new prompt that starts
    /// with them reuses them (multi-turn chat skips re-reading the conversation).
    cached: Vec<u32>,
    generation: Option<Generation>,
    /// Built on the first request with a grammar.
    grammars: Option<Grammars>,
}

impl Engine {
    fn new(model: Model, tokenizer: Tokenizer, template: ChatTemplate, info: ModelInfo) -> Self {
        let add_bos = tokenizer.add_bos();
        Engine {
            model,
            tokenizer,
            template,
            info,
            add_bos,
            cached: Vec::new(),
            generation: None,
            grammars: None,
        }
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn context_length(&self) -> usize {
        self.model.max_context()
    }

    /// The model's chat template applied to `messages`, with the generation prompt.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        self.template.render(messages, true)
    }

    /// Token ids of a chat prompt (special tokens parsed; BOS added if the model asks).
    pub fn chat_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        self.chat_tokens_with_tools(messages, &[], "")
    }

    /// [`Self::chat_tokens`] with the tools the model may call, and `answer_start` as the
    /// beginning of the answer.
    fn chat_tokens_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        answer_start: &str,
    ) -> Result<Vec<u32>> {
        let text = self.template.render_with_tools(messages, tools, true)?;
        self.prompt_tokens(&(text + answer_start), true)
    }

    /// The BOS token, when the model asks for it at the start of every prompt.
    pub fn bos_added(&self) -> Option<u32> {
        self.add_bos.then(|| self.tokenizer.bos_id()).flatten()
    }

    /// Token ids of a raw text prompt (BOS added if the model asks for it).
    pub fn prompt_tokens(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = self.tokenizer.encode(text, parse_special)?;
        if self.add_bos {
            if let Some(bos) = self.tokenizer.bos_id() {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// Starts a generation; returns the number of prompt tokens (after dropping the oldest
    /// turns of a chat that would not fit). A generation still running is replaced.
    pub fn start(&mut self, request: GenerateRequest) -> Result<usize> {
        request.validate()?;
        let ctx = self.context_length();
        // Room kept for the answer when trimming a conversation.
        let reserve = request.max_tokens.unwrap_or(ctx / 4).min(ctx / 2).max(1);
        let (tools, forced_call) = request.tool_use();
        let tool_syntax = match tools {
            [] => None,
            _ => Some(
                ToolCallSyntax::of_template(self.template.source()).ok_or_else(|| {
                    Error::InvalidRequest(
                        "tools: this model's chat template does not write tool calls in a syntax \
                     hearth reads (it reads <tool_call> JSON, as Qwen 2.5 and 3 write)"
                            .into(),
                    )
                })?,
            ),
        };
        let answer_start = match (tool_syntax, forced_call) {
            (Some(syntax), Some(_)) => syntax.forced_start(),
            _ => "",
        };
        let schema = match (tool_syntax, forced_call) {
            (Some(_), Some(name)) => Some((call_schema(tools, name), "tool_choice")),
            _ => request
                .response_format
                .as_ref()
                .and_then(ResponseFormat::schema)
                .map(|schema| (schema, "response_format")),
        };
        let constraint = match schema {
            Some((schema, field)) => Some(self.grammars()?.json(schema, field)?),
            None => None,
        };
        let prompt = if let Some(messages) = &request.messages {
            let fitted = crate::chat::fit_to_context(messages, ctx - reserve, |m| {
                self.chat_tokens_with_tools(m, tools, answer_start)
                    .map(|t| t.len())
            })?;
            self.chat_tokens_with_tools(&fitted, tools, answer_start)?
        } else if let Some(text) = &request.prompt {
            self.prompt_tokens(text, false)?
        } else {
            request.prompt_tokens.clone().unwrap_or_default()
        };
        if prompt.is_empty() {
            return Err(Error::InvalidRequest("the prompt is empty".into()));
        }
        if let Some(&bad) = prompt
            .iter()
            .find(|&&t| t as usize >= self.info.config.n_vocab)
        {
            return Err(Error::InvalidRequest(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        if prompt.len() >= ctx {
            return Err(Error::ContextOverflow {
                needed: prompt.len() + 1,
                limit: ctx,
            });
        }
        // Reuse the cached prefix, but always recompute at least the last prompt token:
        // its logits give the first sample.
        let reuse = common_prefix(&self.cached, &prompt).min(prompt.len() - 1);
        self.cached.truncate(reuse);
        let sampling = request.sampling()?;
        if let Some(&(bad, _)) = sampling
            .logit_bias
            .iter()
            .find(|(t, _)| *t as usize >= self.info.config.n_vocab)
        {
            return Err(Error::InvalidRequest(format!(
                "logit_bias names token id {bad}, outside the vocabulary of {} tokens",
                self.info.config.n_vocab
            )));
        }
        let fallback_seed = web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // Log-probabilities need the logits, which the GPU argmax never reads back.
        let greedy_on_gpu =
            sampling.is_plain_greedy() && request.logprobs.is_none() && constraint.is_none();
        let n_prompt = prompt.len();
        self.generation = Some(Generation {
            to_feed: prompt[reuse..].to_vec(),
            sampler: Sampler::new(sampling, fallback_seed)?,
            greedy_on_gpu,
            logprobs: request.logprobs,
            detok: self.detokenizer(tool_syntax),
            answer: match tool_syntax {
                Some(syntax) => Answer::with_tools(
                    request.stop.clone(),
                    syntax,
                    answer_start,
                    format!("{:08x}", (fallback_seed ^ (fallback_seed >> 32)) as u32),
                ),
                None => Answer::new(request.stop.clone()),
            },
            constraint,
            max_tokens: request.max_tokens.unwrap_or(usize::MAX),
            ignore_eos: request.ignore_eos,
            usage: Usage {
                prompt_tokens: n_prompt,
                completion_tokens: 0,
                total_tokens: n_prompt,
            },
            timings: Timings::default(),
            aborted: false,
        });
        // `cached` describes the KV cache after the feed below; prompt tokens are recorded
        // as soon as they are computed.
        Ok(n_prompt)
    }

    /// The grammar compiler for this model's vocabulary, built on first use.
    fn grammars(&mut self) -> Result<&Grammars> {
        let grammars = match self.grammars.take() {
            Some(grammars) => grammars,
            None => Grammars::new(&self.tokenizer)?,
        };
        Ok(self.grammars.insert(grammars))
    }

    /// A detokenizer for an answer; one that may call tools prints the syntax's markers
    /// even where they are special tokens.
    fn detokenizer(&self, tool_syntax: Option<ToolCallSyntax>) -> Detokenizer {
        let mut detok = self.tokenizer.detokenizer();
        let markers = tool_syntax.map_or(&[][..], ToolCallSyntax::markers);
        for marker in markers {
            if let Ok([id]) = self.tokenizer.encode(marker, true).as_deref() {
                detok.print_special(*id);
            }
        }
        detok
    }

    /// Ends the current generation: the next `step` returns `finish_reason: abort`.
    pub fn abort(&mut self) {
        if let Some(g) = self.generation.as_mut() {
            g.aborted = true;
        }
    }

    /// The GPU device the model runs on (none on the CPU backend): its `lost_reason` says
    /// whether the browser or driver took it away, after which every step fails with
    /// `GpuLost` and only a new engine (a new device, the model loaded again) recovers.
    pub fn gpu_context(&self) -> Option<&GpuContext> {
        self.model.gpu_context()
    }

    pub fn is_generating(&self) -> bool {
        self.generation.is_some()
    }

    /// Computes and returns the next token. After a step with a `finish_reason`, the
    /// generation is over and `step` fails until the next `start`.
    pub async fn step(&mut self) -> Result<Step> {
        let mut g = self.generation.take().ok_or_else(|| {
            Error::InvalidRequest("no generation is running; call start first".into())
        })?;
        if g.aborted {
            return Ok(finish(
                &mut g,
                FinishReason::Abort,
                String::new(),
                None,
                None,
            ));
        }
        let pos = self.cached.len();
        if pos + g.to_feed.len() > self.context_length() {
            let tail = drain(&mut g);
            return Ok(finish(&mut g, FinishReason::Length, tail, None, None));
        }
        let first = g.usage.completion_tokens == 0;
        let started = Instant::now();
        // Greedy steps let the GPU start the next one unless this is the last one allowed
        // (a stop token or string may still end the answer: that costs one step's work).
        let output = if !g.greedy_on_gpu {
            ForwardOutput::LastLogits
        } else if g.usage.completion_tokens + 1 < g.max_tokens {
            ForwardOutput::ArgmaxAhead
        } else {
            ForwardOutput::Argmax
        };
        let result = self.model.forward(&g.to_feed, pos, output).await;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                // The cache past `pos` is in an unknown state: forget it.
                self.cached.truncate(pos);
                return Err(e);
            }
        };
        self.cached.append(&mut g.to_feed);
        let (token, logprobs) = match result {
            ForwardResult::Argmax(t) => (t, None),
            ForwardResult::LastLogits(mut logits) | ForwardResult::AllLogits(mut logits) => {
                if let Some(constraint) = g.constraint.as_mut() {
                    constraint.mask(&mut logits)?;
                }
                let token = g.sampler.sample(&mut logits, &self.cached)?;
                if let Some(constraint) = g.constraint.as_mut() {
                    constraint.accept(token)?;
                }
                // `logits` now holds what the draw saw: biased and penalized, untempered.
                let logprobs = g
                    .logprobs
                    .map(|n| logprobs::step_logprobs(&self.tokenizer, &logits, token, n));
                (token, logprobs)
            }
        };
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if first {
            g.timings.prefill_tokens = self.cached.len() - pos;
            g.timings.prefill_ms = elapsed;
        } else {
            g.timings.decode_tokens += 1;
            g.timings.decode_ms += elapsed;
        }
        g.usage.completion_tokens += 1;
        g.usage.total_tokens += 1;

        if !g.ignore_eos && self.tokenizer.stop_ids().contains(&token) {
            let tail = drain(&mut g);
            return Ok(finish(
                &mut g,
                FinishReason::Stop,
                tail,
                Some(token),
                logprobs,
            ));
        }
        let text = g.detok.push(token);
        match g.answer.push(&text) {
            StopOutcome::Stopped(before) => Ok(finish(
                &mut g,
                FinishReason::Stop,
                before,
                Some(token),
                logprobs,
            )),
            StopOutcome::Continue(delta) => {
                if g.constraint.as_ref().is_some_and(Constraint::is_complete) {
                    // The grammar is complete: the answer ends here.
                    let delta = delta + &drain(&mut g);
                    return Ok(finish(
                        &mut g,
                        FinishReason::Stop,
                        delta,
                        Some(token),
                        logprobs,
                    ));
                }
                if g.usage.completion_tokens >= g.max_tokens {
                    let delta = delta + &drain(&mut g);
                    return Ok(finish(
                        &mut g,
                        FinishReason::Length,
                        delta,
                        Some(token),
                        logprobs,
                    ));
                }
                g.to_feed.push(token);
                self.generation = Some(g);
                Ok(Step {
                    delta,
                    token: Some(token),
                    logprobs,
                    ..Default::default()
                })
            }
        }
    }

    /// Logits for every position of `tokens`, computed from an empty cache (for perplexity
    /// and tests). Row `i` predicts token `i + 1`.
    pub async fn logits_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.generation = None;
        self.cached.clear();
        match self
            .model
            .forward(tokens, 0, ForwardOutput::AllLogits)
            .await?
        {
            ForwardResult::AllLogits(l) => Ok(l),
            _ => Err(Error::Gpu("expected the logits of every token".into())),
        }
    }

    /// The same as [`Engine::logits_all`], computed one token at a time as decoding
    /// computes them (the CPU backend's 16-bit activations apply to single tokens only).
    pub async fn logits_stepwise(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.generation = None;
        self.cached.clear();
        let mut all = Vec::new();
        for (pos, token) in tokens.iter().enumerate() {
            match self
                .model
                .forward(std::slice::from_ref(token), pos, ForwardOutput::LastLogits)
                .await?
            {
                ForwardResult::LastLogits(l) => all.extend_from_slice(&l),
                _ => return Err(Error::Gpu("expected the logits of the last token".into())),
            }
        }
        Ok(all)
    }
}

/// The text the detokenizer still holds, through the answer: content that can stream.
fn drain(g: &mut Generation) -> String {
    match g.answer.push(&g.detok.flush()) {
        StopOutcome::Continue(text) | StopOutcome::Stopped(text) => text,
    }
}

/// The last step, for `reason`: `delta`, then what the answer held back, and its calls.
fn finish(
    g: &mut Generation,
    reason: FinishReason,
    delta: String,
    token: Option<u32>,
    logprobs: Option<StepLogprobs>,
) -> Step {
    let ending = g.answer.finish(reason);
    if let Some(constraint) = &g.constraint {
        g.timings.mask_count = constraint.masks;
        g.timings.mask_ms = constraint.mask_ms;
    }
    Step {
        delta: delta + &ending.content,
        token,
        logprobs,
        tool_calls: ending.tool_calls,
        finish_reason: Some(ending.reason),
        usage: Some(g.usage),
        timings: Some(g.timings),
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

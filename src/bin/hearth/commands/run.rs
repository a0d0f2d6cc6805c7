//! `hearth run`: generate and stream text.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use hearth::chat::ChatMessage;
use hearth::engine::{FinishReason, GenerateRequest, Timings, Usage};
use hearth::Result;
use serde::Serialize;

use crate::load::{self, BackendArg};

#[derive(Args)]
pub struct RunArgs {
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    /// Apply the model's chat template (the prompt is the user's message).
    #[arg(long)]
    chat: bool,
    /// System message (with --chat).
    #[arg(long)]
    system: Option<String>,
    #[arg(long)]
    max_tokens: Option<usize>,
    /// 0 is greedy.
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long)]
    min_p: Option<f32>,
    #[arg(long)]
    repetition_penalty: Option<f32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Context length (KV cache size); default min(model's, 4096).
    #[arg(long)]
    ctx: Option<usize>,
    /// Print one JSON object at the end (prompt and generated ids, text, timings) instead
    /// of streaming text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArg,
}

#[derive(Serialize)]
struct RunReport {
    prompt_ids: Vec<u32>,
    generated_ids: Vec<u32>,
    text: String,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    timings: Option<Timings>,
    prefill_tok_per_s: f64,
    decode_tok_per_s: f64,
}

pub async fn run(args: RunArgs) -> Result<()> {
    let mut engine = load::engine(&args.model, args.ctx, args.backend).await?;
    let prompt_ids = if args.chat {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::new("system", system.clone()));
        }
        messages.push(ChatMessage::new("user", args.prompt.clone()));
        engine.chat_tokens(&messages)?
    } else {
        engine.prompt_tokens(&args.prompt, false)?
    };
    engine.start(GenerateRequest {
        prompt_tokens: Some(prompt_ids.clone()),
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        max_tokens: args.max_tokens,
        ..Default::default()
    })?;
    let mut out = std::io::stdout().lock();
    let mut report = RunReport {
        prompt_ids,
        generated_ids: Vec::new(),
        text: String::new(),
        finish_reason: None,
        usage: None,
        timings: None,
        prefill_tok_per_s: 0.0,
        decode_tok_per_s: 0.0,
    };
    loop {
        let step = engine.step().await?;
        if !args.json {
            write!(out, "{}", step.delta)?;
            out.flush()?;
        }
        report.text.push_str(&step.delta);
        report.generated_ids.extend(step.token);
        if step.finish_reason.is_some() {
            report.finish_reason = step.finish_reason;
            report.usage = step.usage;
            report.timings = step.timings;
            break;
        }
    }
    if let Some(t) = report.timings {
        report.prefill_tok_per_s = per_second(t.prefill_tokens, t.prefill_ms);
        report.decode_tok_per_s = per_second(t.decode_tokens, t.decode_ms);
    }
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&report).unwrap_or_default()
        )?;
    } else {
        writeln!(out)?;
    }
    Ok(())
}

pub fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

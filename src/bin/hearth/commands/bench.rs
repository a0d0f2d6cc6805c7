//! `hearth bench`: prefill and decode speed, time to first token. Measured, never asserted.

use std::path::Path;

use hearth::engine::GenerateRequest;
use hearth::{Error, Result};
use serde_json::json;
use web_time::Instant;

use super::run::per_second;
use crate::load::{self, BackendArg};

/// Plain English that tokenizes to ordinary tokens; repeated to reach the prompt length.
const BENCH_TEXT: &str = "The history of the lighthouse is a story of fire, glass and patience. \
Keepers climbed the stairs every evening to trim the wicks, polish the lenses and watch the sea, \
writing the weather into their logbooks while ships passed safely in the dark. ";

pub async fn bench(
    model: &Path,
    prompt_tokens: usize,
    gen_tokens: usize,
    json: bool,
    backend: BackendArg,
) -> Result<()> {
    if prompt_tokens == 0 || gen_tokens == 0 {
        return Err(Error::InvalidRequest(
            "--prompt-tokens and --gen-tokens must be > 0".into(),
        ));
    }
    let load_start = Instant::now();
    let mut engine = load::engine(model, None, backend).await?;
    let load_s = load_start.elapsed().as_secs_f64();
    let mut prompt = Vec::new();
    let unit = engine.tokenizer().encode(BENCH_TEXT, false)?;
    while prompt.len() < prompt_tokens {
        prompt.extend_from_slice(&unit);
    }
    prompt.truncate(prompt_tokens);
    if prompt.len() + gen_tokens > engine.context_length() {
        return Err(Error::InvalidRequest(format!(
            "{} + {gen_tokens} tokens exceed the context of {}",
            prompt.len(),
            engine.context_length()
        )));
    }

    // Warm-up: the first dispatches compile pipelines and fault in memory.
    engine.start(GenerateRequest {
        prompt_tokens: Some(prompt[..prompt.len().min(8)].to_vec()),
        temperature: Some(0.0),
        max_tokens: Some(2),
        ignore_eos: true,
        ..Default::default()
    })?;
    while engine.step().await?.finish_reason.is_none() {}

    // A token the warm-up did not see first, so no cached prefix is reused.
    let mut measured = prompt.clone();
    measured[0] = measured[0].wrapping_add(1) % engine.info().config.n_vocab as u32;
    let start = Instant::now();
    engine.start(GenerateRequest {
        prompt_tokens: Some(measured),
        temperature: Some(0.0),
        max_tokens: Some(gen_tokens),
        ignore_eos: true,
        ..Default::default()
    })?;
    let mut ttft_ms = None;
    let timings = loop {
        let step = engine.step().await?;
        ttft_ms.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1000.0);
        if let Some(t) = step.timings {
            break t;
        }
    };
    let prefill = per_second(timings.prefill_tokens, timings.prefill_ms);
    let decode = per_second(timings.decode_tokens, timings.decode_ms);
    let adapter = engine.info().adapter.clone();
    let cost = engine.info().cost;
    let kernels = engine.info().kernels.clone();
    let backend = engine.info().backend.kind;
    let file_bytes = model_bytes(model);
    let report = json!({
        "model": model.display().to_string(),
        "backend": backend,
        "adapter": adapter,
        "kernels": kernels,
        "load_s": load_s,
        "prompt_tokens": timings.prefill_tokens,
        "gen_tokens": timings.decode_tokens + 1,
        "prefill_tok_per_s": prefill,
        "decode_tok_per_s": decode,
        "ttft_ms": ttft_ms.unwrap_or(0.0),
        "dispatches_per_token": cost.dispatches,
        "weight_bytes_read_per_token": cost.weight_bytes_read,
        "gpu_weight_bytes": cost.weight_bytes_stored,
        "model_file_bytes": file_bytes,
        "pipelines": cost.pipelines,
    });
    if json {
        println!("{report}");
    } else {
        println!("backend:  {backend} · {adapter} · kernels {kernels}");
        println!("load:     {load_s:.2} s");
        println!(
            "prefill:  {prefill:.1} tok/s ({} tokens)",
            timings.prefill_tokens
        );
        println!(
            "decode:   {decode:.1} tok/s ({} tokens)",
            timings.decode_tokens
        );
        println!("ttft:     {:.0} ms", ttft_ms.unwrap_or(0.0));
        println!("dispatches per token:  {}", cost.dispatches);
        println!(
            "weights read per token: {:.1} MB",
            cost.weight_bytes_read as f64 / 1e6
        );
        println!(
            "weight memory ({backend}): {:.1} MB ({:.2}× the model files)",
            cost.weight_bytes_stored as f64 / 1e6,
            cost.weight_bytes_stored as f64 / file_bytes.max(1) as f64
        );
    }
    Ok(())
}

/// Bytes of the model's files: the GGUF file, or every file of a Hugging Face folder.
fn model_bytes(model: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    match std::fs::read_dir(model) {
        Ok(entries) => entries.flatten().map(|e| size(&e.path())).sum(),
        Err(_) => size(model),
    }
}

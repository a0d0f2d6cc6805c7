//! Subcommands. Their names and flags are a stable interface: scripts rely on them.

mod bench;
mod convert;
mod info;
mod perplexity;
mod run;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hearth::Result;

use crate::load::BackendArg;

#[derive(Parser)]
#[command(
    name = "hearth",
    version,
    about = "Run LLMs on wgpu: GGUF files or Hugging Face folders"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Architecture, sizes, tensor types, tokenizer and chat template of a model.
    Info { model: PathBuf },
    /// Token ids of TEXT (special tokens like <|im_start|> are parsed; no BOS unless --bos).
    Tokenize {
        model: PathBuf,
        text: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        bos: bool,
    },
    /// Generate text, streamed to stdout as it is produced.
    Run(run::RunArgs),
    /// Perplexity of a text file (prints `ppl: X` last).
    Perplexity {
        model: PathBuf,
        #[arg(long)]
        file: PathBuf,
        /// Tokens per window; each window is evaluated from an empty cache.
        #[arg(long, default_value_t = 512)]
        ctx: usize,
        /// Each window one token at a time, as decoding computes them (slower).
        #[arg(long)]
        stepwise: bool,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Prefill and decode speed, time to first token, adapter.
    Bench {
        model: PathBuf,
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 64)]
        gen_tokens: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        backend: BackendArg,
    },
    /// Write a Hugging Face folder (config.json, fp16 model.safetensors, tokenizer files).
    Convert { model: PathBuf, outdir: PathBuf },
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { model } => info::info(&model),
        Command::Tokenize {
            model,
            text,
            json,
            bos,
        } => info::tokenize(&model, &text, json, bos),
        Command::Run(args) => run::run(args).await,
        Command::Perplexity {
            model,
            file,
            ctx,
            stepwise,
            backend,
        } => perplexity::perplexity(&model, &file, ctx, stepwise, backend).await,
        Command::Bench {
            model,
            prompt_tokens,
            gen_tokens,
            json,
            backend,
        } => bench::bench(&model, prompt_tokens, gen_tokens, json, backend).await,
        Command::Convert { model, outdir } => convert::convert(&model, &outdir),
    }
}

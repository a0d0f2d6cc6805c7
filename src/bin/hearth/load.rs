//! Loading a model from disk with a progress bar on a terminal.

use std::io::IsTerminal;
use std::path::Path;

use clap::{Args, ValueEnum};
use hearth::backend::cpu::Activations;
use hearth::backend::Backend;
use hearth::engine::{Engine, EngineLoader, LoadOptions};
use hearth::gpu::GpuContext;
use hearth::Result;
use indicatif::{ProgressBar, ProgressStyle};

/// Which backend runs the model, and how (`--backend`, `--activations`).
#[derive(Debug, Clone, Copy, Args)]
pub struct BackendArg {
    #[arg(long = "backend", value_enum, default_value_t = BackendKind::Auto)]
    pub kind: BackendKind,
    /// The CPU backend's activations when decoding: int16 (an integer dot with Q4_0, Q4_1
    /// and Q8_0 weights) or f32 (every weight row decoded to f32).
    #[arg(long, value_enum, default_value_t = ActivationsArg::Int16)]
    pub activations: ActivationsArg,
}

/// `--activations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationsArg {
    Int16,
    F32,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The GPU when there is a hardware adapter; the CPU when there is none or only a
    /// software one (lavapipe, SwiftShader), which is slower than the CPU backend.
    Auto,
    /// wgpu on the system's adapter.
    Gpu,
    /// The CPU, with quantized weights in memory.
    Cpu,
}

/// Loads `path` (a `.gguf` file or a Hugging Face folder) onto `backend`.
pub async fn engine(
    path: &Path,
    context_length: Option<usize>,
    backend: BackendArg,
) -> Result<Engine> {
    let cpu = Backend::Cpu(match backend.activations {
        ActivationsArg::Int16 => Activations::Int16,
        ActivationsArg::F32 => Activations::F32,
    });
    let backend = match backend.kind {
        BackendKind::Gpu => Backend::Gpu(GpuContext::new().await?),
        BackendKind::Cpu => cpu,
        BackendKind::Auto => match GpuContext::new().await {
            Ok(gpu) if !gpu.is_software() => Backend::Gpu(gpu),
            _ => cpu,
        },
    };
    let bar = progress_bar("loading");
    let options = LoadOptions { context_length };
    let engine = EngineLoader::load_path(backend, options, path, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    engine
}

/// A byte progress bar when stderr is a terminal, hidden otherwise (scripts, CI logs).
pub fn progress_bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A count progress bar (windows, tokens) when stderr is a terminal.
pub fn count_bar(what: &str, total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

//! Where the forward pass runs: the seam between the engine (loader, sampler, tokenizer,
//! chat) and a backend. A backend takes the model's tensors as they stream in
//! ([`ModelBuilder`]) and runs the forward pass ([`Model`]): the GPU backend [`gpu`]
//! (WGSL kernels through `crate::gpu`), the CPU backend [`cpu`].

pub mod cpu;
pub mod gpu;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::formats::{Tensor, TensorInfo};
use crate::gpu::GpuContext;
use crate::model::forward::{ForwardOutput, ForwardResult};
use crate::model::ModelConfig;
use cpu::{Activations, CpuModel, CpuModelBuilder};
use gpu::{DecodeCost, GpuModel, GpuModelBuilder};

/// Which backend runs a model.
pub enum Backend {
    /// WebGPU / wgpu on this adapter.
    Gpu(GpuContext),
    /// The CPU, with quantized weights in memory.
    Cpu(Activations),
}

impl From<GpuContext> for Backend {
    fn from(ctx: GpuContext) -> Self {
        Backend::Gpu(ctx)
    }
}

/// What runs a model, for `ModelInfo` and `engine.backend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendInfo {
    /// `"webgpu"` or `"cpu"`.
    pub kind: &'static str,
    /// The adapter, or the CPU's threads.
    pub device: String,
    /// The kernel shape (GPU: `lanes` or `split-k`; CPU: how products are computed).
    pub kernels: String,
}

impl Backend {
    pub fn info(&self) -> BackendInfo {
        match self {
            Backend::Gpu(ctx) => BackendInfo {
                kind: "webgpu",
                device: ctx.describe(),
                kernels: ctx.kernel_shape().name().to_string(),
            },
            Backend::Cpu(activations) => BackendInfo {
                kind: "cpu",
                device: cpu_description(),
                kernels: activations.describe().into(),
            },
        }
    }
}

/// The CPU backend's threads and, in the browser, its SIMD level ("1 thread, SIMD128").
fn cpu_description() -> String {
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    let threads = rayon::current_num_threads();
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    let threads = 1;
    #[cfg(not(target_arch = "wasm32"))]
    let simd = None::<&str>;
    #[cfg(target_arch = "wasm32")]
    let simd = Some(if cfg!(target_feature = "simd128") {
        "SIMD128"
    } else {
        "no SIMD"
    });
    let threads = if threads == 1 {
        "1 thread".to_string()
    } else {
        format!("{threads} threads")
    };
    match simd {
        Some(simd) => format!("{threads}, {simd}"),
        None => threads,
    }
}

/// A model being built by a backend as its tensors arrive (one per load: its size is
/// irrelevant).
#[allow(clippy::large_enum_variant)]
pub enum ModelBuilder {
    Gpu(GpuModelBuilder),
    Cpu(CpuModelBuilder),
}

impl ModelBuilder {
    /// Checks the header's tensors and, on the GPU, allocates the weight buffers.
    pub fn new(
        backend: &Backend,
        config: &ModelConfig,
        tensors: &[TensorInfo],
        max_context: usize,
    ) -> Result<Self> {
        Ok(match backend {
            Backend::Gpu(ctx) => {
                ModelBuilder::Gpu(GpuModelBuilder::new(ctx, config, tensors, max_context)?)
            }
            Backend::Cpu(activations) => ModelBuilder::Cpu(CpuModelBuilder::new(
                config,
                tensors,
                max_context,
                *activations,
            )?),
        })
    }

    /// Takes one tensor (or a piece of one); names the model does not use are ignored.
    pub fn add_tensor(&mut self, t: Tensor) -> Result<()> {
        match self {
            ModelBuilder::Gpu(b) => b.add_tensor(t),
            ModelBuilder::Cpu(b) => b.add_tensor(t),
        }
    }

    /// Checks that every tensor arrived and makes the model ready to run.
    pub async fn finish(self) -> Result<Model> {
        Ok(match self {
            ModelBuilder::Gpu(b) => Model::Gpu(b.finish().await?),
            ModelBuilder::Cpu(b) => Model::Cpu(b.finish()?),
        })
    }
}

/// A model ready to run on its backend (one per engine).
#[allow(clippy::large_enum_variant)]
pub enum Model {
    Gpu(GpuModel),
    Cpu(CpuModel),
}

impl Model {
    /// Runs `tokens` at positions `pos..`, attending to the cache of earlier positions.
    pub async fn forward(
        &mut self,
        tokens: &[u32],
        pos: usize,
        out: ForwardOutput,
    ) -> Result<ForwardResult> {
        match self {
            Model::Gpu(m) => {
                if let Some(why) = m.context().lost_reason() {
                    return Err(Error::GpuLost(why));
                }
                let result = m.forward(tokens, pos, out).await;
                // A step that fails because the device went away fails as `GpuLost`, which
                // tells the caller to rebuild rather than to report a kernel bug.
                match (result, m.context().lost_reason()) {
                    (Err(_), Some(why)) => Err(Error::GpuLost(why)),
                    (result, _) => result,
                }
            }
            Model::Cpu(m) => m.forward(tokens, pos, out),
        }
    }

    /// The GPU device under the model (none for the CPU).
    pub fn gpu_context(&self) -> Option<&GpuContext> {
        match self {
            Model::Gpu(m) => Some(m.context()),
            Model::Cpu(_) => None,
        }
    }

    pub fn max_context(&self) -> usize {
        match self {
            Model::Gpu(m) => m.max_context(),
            Model::Cpu(m) => m.max_context(),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Model::Gpu(m) => m.config(),
            Model::Cpu(m) => m.config(),
        }
    }

    /// What one decode step costs (the CPU backend dispatches nothing and reads every
    /// weight).
    pub fn decode_cost(&self) -> DecodeCost {
        match self {
            Model::Gpu(m) => m.decode_cost(),
            Model::Cpu(m) => DecodeCost {
                dispatches: 0,
                weight_bytes_read: m.weight_bytes(),
                weight_bytes_stored: m.weight_bytes(),
                pipelines: 0,
            },
        }
    }
}

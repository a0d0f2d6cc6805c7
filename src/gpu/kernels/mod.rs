//! The compute kernels: one Rust type per WGSL file in `shaders/`. Each type creates its
//! pipeline (model-fixed sizes as `override` constants, labelled with the kernel and
//! variant), creates bind groups from named buffers, and records its dispatches.
//!
//! Bind group layouts are explicit (not derived from the shader), so a variant that skips
//! a binding (no bias) still takes the same bind group; unused slots get a small
//! placeholder buffer.

mod argmax;
mod attention;
mod embedding;
mod linear;
mod rmsnorm;
pub mod rope;
mod silu_mul;
mod softmax;

pub use argmax::Argmax;
pub use attention::{source as attention_source, Attention, AttentionBinds, AttentionPath};
pub use embedding::Embedding;
pub use linear::{
    source as linear_source, Epilogue, InputBinding, InputNorm, Linear, LinearBindings, LinearOut,
    LinearSpec, LinearTokens, WeightView,
};
pub use rmsnorm::{NormKind, RmsNorm};
pub use rope::Rope;
pub use silu_mul::SiluMul;
pub use softmax::Softmax;

use super::context::GpuContext;
use super::formats::GpuFormat;
use super::weights::ROW_BLOCK;
use crate::error::{Error, Result};

/// Shared by every weight format's decode snippet.
const QUANT_COMMON: &str = include_str!("../../../shaders/quant/common.wgsl");
/// The 6-bit scales of Q4_K and Q5_K.
const KQUANT_SCALES: &str = include_str!("../../../shaders/quant/kquant_scales.wgsl");
/// The 4-row dot products of the formats that decode 8 columns from one word.
const DECODED4: &str = include_str!("../../../shaders/quant/decoded4.wgsl");

/// The source of a kernel that reads weights of `format`: its `#include quant` line becomes
/// the layout constants, the shared decode helpers and the format's snippet.
pub fn with_format(source: &str, format: GpuFormat) -> String {
    let mut quant = format!("const ROW_BLOCK: u32 = {ROW_BLOCK}u;\n{QUANT_COMMON}\n");
    if matches!(format, GpuFormat::Q4K | GpuFormat::Q5K) {
        quant.push_str(KQUANT_SCALES);
        quant.push('\n');
    }
    quant.push_str(format.snippet());
    if matches!(format, GpuFormat::Q5_0 | GpuFormat::Q5_1 | GpuFormat::Q5K) {
        quant.push('\n');
        quant.push_str(DECODED4);
    }
    source.replacen("#include quant", &quant, 1)
}

/// The FFN activations (`shaders/activation.wgsl`), shared by the kernels that apply them.
const ACTIVATION: &str = include_str!("../../../shaders/activation.wgsl");

/// `source` with its `#include activation` replaced by the activation functions.
pub fn with_activation(source: &str) -> String {
    source.replacen("#include activation", ACTIVATION, 1)
}

/// `source` with each block between a `//#unroll` line and an `//#end` line written `n`
/// times, `$c` replaced by 0, 1, ..., n - 1: values a kernel would keep in an array indexed
/// by a loop counter become `n` variables. CPU adapters keep such an array in memory
/// (SwiftShader reads it lane by lane, component by component); variables stay in
/// registers.
pub fn unroll(source: &str, n: usize) -> String {
    let mut out = String::with_capacity(source.len() + 64 * n);
    let mut block: Option<Vec<&str>> = None;
    for line in source.lines() {
        let marker = line.trim();
        if let Some(lines) = block.as_mut() {
            if marker != "//#end" {
                lines.push(line);
                continue;
            }
            for c in 0..n {
                for l in lines.iter() {
                    out.push_str(&l.replace("$c", &c.to_string()));
                    out.push('\n');
                }
            }
            block = None;
        } else if marker == "//#unroll" {
            block = Some(Vec::new());
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every WGSL source, by file name (for tests that parse them all); before they compile,
/// the kernels that read weights are composed with a format (`with_format`), attention for
/// a head size (`attention_source`).
pub const SHADERS: [(&str, &str); 8] = [
    ("argmax.wgsl", argmax::SOURCE),
    ("attention.wgsl", attention::SOURCE),
    ("embedding.wgsl", embedding::SOURCE),
    ("linear.wgsl", linear::SOURCE),
    ("rmsnorm.wgsl", rmsnorm::SOURCE),
    ("rope.wgsl", rope::SOURCE),
    ("silu_mul.wgsl", silu_mul::SOURCE),
    ("softmax.wgsl", softmax::SOURCE),
];

/// The shaders that `#include quant`: they read weights (`linear.wgsl` also includes an
/// epilogue: `linear_source`).
pub const WEIGHT_SHADERS: [(&str, &str); 2] = [
    ("embedding.wgsl", embedding::SOURCE),
    ("linear.wgsl", linear::SOURCE),
];

/// How a kernel sees one binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Uniform,
    /// A uniform binding of the buffer's first `bytes` (a buffer may be larger than a
    /// uniform binding can be).
    UniformPrefix {
        bytes: u64,
    },
    Read,
    ReadWrite,
}

impl Slot {
    fn is_storage(self) -> bool {
        matches!(self, Slot::Read | Slot::ReadWrite)
    }
}

/// A compute pipeline with its explicit bind group layout.
pub struct Kernel {
    pub label: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    slots: Vec<Slot>,
}

impl Kernel {
    /// Compiles `source`'s `entry` with the given override constants. Validation errors
    /// become `Error::Gpu` naming `label`.
    pub async fn new(
        ctx: &GpuContext,
        label: &str,
        source: &str,
        entry: &str,
        slots: &[Slot],
        constants: &[(&str, f64)],
    ) -> Result<Self> {
        let storage = slots.iter().filter(|s| s.is_storage()).count() as u32;
        if storage > super::context::MAX_STORAGE_BUFFERS_PER_STAGE {
            return Err(Error::Gpu(format!(
                "{label}: {storage} storage bindings is too many"
            )));
        }
        let device = ctx.device();
        ctx.checked(label, || {
            let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
                .iter()
                .enumerate()
                .map(|(i, slot)| wgpu::BindGroupLayoutEntry {
                    binding: i as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: match slot {
                        Slot::Uniform | Slot::UniformPrefix { .. } => wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        Slot::Read | Slot::ReadWrite => wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Storage {
                                read_only: *slot == Slot::Read,
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                    },
                    count: None,
                })
                .collect();
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries: &entries,
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
            Self {
                label: label.to_string(),
                pipeline,
                layout,
                slots: slots.to_vec(),
            }
        })
        .await
    }

    /// A bind group over whole buffers, one per slot in order.
    pub fn bind(&self, ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> Result<wgpu::BindGroup> {
        if buffers.len() != self.slots.len() {
            return Err(Error::Gpu(format!(
                "{}: {} buffers for {} bindings",
                self.label,
                buffers.len(),
                self.slots.len()
            )));
        }
        let mut entries = Vec::with_capacity(buffers.len());
        for (i, (b, slot)) in buffers.iter().zip(&self.slots).enumerate() {
            let resource = match *slot {
                Slot::UniformPrefix { bytes } => {
                    let size = wgpu::BufferSize::new(bytes)
                        .filter(|_| bytes <= b.size())
                        .ok_or_else(|| {
                            Error::Gpu(format!(
                                "{}: binding {i} needs {bytes} bytes, the buffer has {}",
                                self.label,
                                b.size()
                            ))
                        })?;
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: 0,
                        size: Some(size),
                    })
                }
                _ => b.as_entire_binding(),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            });
        }
        Ok(ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.label),
            layout: &self.layout,
            entries: &entries,
        }))
    }

    /// Records one dispatch of `groups` workgroups.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        groups: [u32; 3],
    ) {
        if groups.contains(&0) {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }
}

/// Workgroups for `n` independent groups as an (x, y) grid within the per-dimension limit
/// of 65535; kernels flatten it as `x + y * num_workgroups.x` and ignore the excess.
pub fn grid(n: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if n <= MAX {
        [n, 1, 1]
    } else {
        [MAX, n.div_ceil(MAX), 1]
    }
}

/// Converts a size to a WGSL override constant value.
fn constant(v: usize) -> f64 {
    v as f64
}

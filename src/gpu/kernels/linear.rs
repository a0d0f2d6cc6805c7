//! `shaders/linear.wgsl`: the products of a matrix in any GPU weight format with the
//! inputs, in the tiled layout of `gpu::weights` (one workgroup per tile of 32 rows), and
//! an epilogue that stores them: plain rows (+ bias, + residual), the SwiGLU of gate|up
//! pairs, or rope and the KV-cache store of Q|K|V pairs; the one-token kernels may norm
//! their input first (`InputNorm`).

use super::rope::Heads;
use super::{constant, grid, with_activation, with_format, Kernel, Slot};
use crate::error::{Error, Result};
use crate::gpu::context::{GpuContext, KernelShape};
use crate::gpu::formats::GpuFormat;
use crate::gpu::weights::RowLayout;

pub(super) const SOURCE: &str = include_str!("../../../shaders/linear.wgsl");
const ROWS: &str = include_str!("../../../shaders/epilogue/rows.wgsl");
const GLU: &str = include_str!("../../../shaders/epilogue/glu.wgsl");
const ROPE_KV: &str = include_str!("../../../shaders/epilogue/rope_kv.wgsl");
const WORDS: &str = include_str!("../../../shaders/weights/words.wgsl");
const QUADS: &str = include_str!("../../../shaders/weights/quads.wgsl");

/// The source of a linear kernel reading `format` through `view` and `input`, and storing
/// through `epilogue`.
pub fn source(
    format: GpuFormat,
    view: WeightView,
    input: InputBinding,
    epilogue: Epilogue,
) -> String {
    with_activation(
        &with_format(SOURCE, format)
            .replacen("#include weights", view.declaration(), 1)
            .replacen("#include input", &input.declaration(), 1)
            .replacen("#include sub_blocks", &input.sub_blocks(), 1)
            .replacen("#include epilogue", epilogue.source(), 1),
    )
}

/// How a linear kernel sees its weights (`wt`, binding 3); `word` and `word4` read either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightView {
    /// `array<u32>`: neighbouring lanes read neighbouring words.
    Words,
    /// `array<vec4<u32>>`: one lane reads word j of 4 consecutive rows at once (`quad1`).
    Quads,
}

impl WeightView {
    fn declaration(self) -> &'static str {
        match self {
            Self::Words => WORDS,
            Self::Quads => QUADS,
        }
    }
}

/// How a linear kernel reads its input rows (`x`, binding 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputBinding {
    /// Every token's row, from a read-only storage binding.
    Storage,
    /// Row 0 only (`k` columns), from a uniform binding of the buffer's first `4 k` bytes:
    /// on CPU adapters a uniform load is one broadcast to the lanes, a storage load one
    /// bounds-checked load per lane (lavapipe).
    UniformRow { k: usize },
}

impl InputBinding {
    /// The WGSL declaration of `x`.
    fn declaration(self) -> String {
        match self {
            Self::Storage => {
                "@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;".to_string()
            }
            Self::UniformRow { k } => format!(
                "@group(0) @binding(2) var<uniform> x: array<vec4<f32>, {}>;",
                k.div_ceil(4)
            ),
        }
    }

    /// quad1's walk over the 32-column sub-blocks (`quad1_sub`), of row 0 over a uniform
    /// row. A loop: unrolled over SmolLM2's rows it decoded no faster on lavapipe, where the
    /// model then loaded in 2.9 s instead of 0.9 s, and in Chromium's SwiftShader in 27 s
    /// instead of 6 s.
    fn sub_blocks(self) -> String {
        let t = match self {
            Self::Storage => "t_in",
            Self::UniformRow { .. } => "0u",
        };
        format!(
            "    for (var sb = 0u; sb < shard.n_groups * (GROUP / 32u); sb++) {{\n        \
            quad1_sub(sb, {t}, base0, base1, &ss, &acc0, &acc1);\n    }}\n"
        )
    }

    fn slot(self) -> Slot {
        match self {
            Self::Storage => Slot::Read,
            Self::UniformRow { k } => Slot::UniformPrefix {
                bytes: 4 * k as u64,
            },
        }
    }
}

/// How a product's results are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Epilogue {
    /// `Y[t, row] = act(acc (+ bias[row])) (+ Y[t, row] when residual)`, act GELU (tanh)
    /// with `gelu` (GPT-2's ungated FFN), none otherwise.
    Rows {
        residual: bool,
        bias: bool,
        gelu: bool,
    },
    /// Gate|up pairs: `act[t, p] = silu(gate) · up`, or with `gelu` GELU (tanh) of gate.
    Glu { gelu: bool },
    /// Q|K|V pairs: bias, rotary embedding of Q and K, K and V into the KV cache.
    RopeKv {
        heads: Heads,
        pairwise: bool,
        bias: bool,
    },
}

impl Epilogue {
    /// The source of the epilogue (`shaders/epilogue/`).
    fn source(self) -> &'static str {
        match self {
            Epilogue::Rows { .. } => ROWS,
            Epilogue::Glu { .. } => GLU,
            Epilogue::RopeKv { .. } => ROPE_KV,
        }
    }

    /// The layout of the matrices it reads.
    pub fn layout(self) -> RowLayout {
        match self {
            Epilogue::Rows { .. } => RowLayout::Rows,
            _ => RowLayout::Pairs,
        }
    }

    /// Its output bindings, after step, shard, x and the weights.
    fn slots(self) -> &'static [Slot] {
        match self {
            Epilogue::Rows { .. } => &[Slot::ReadWrite, Slot::Read],
            Epilogue::Glu { .. } => &[Slot::ReadWrite],
            Epilogue::RopeKv { .. } => &[
                Slot::ReadWrite,
                Slot::Read,
                Slot::Read,
                Slot::ReadWrite,
                Slot::ReadWrite,
            ],
        }
    }

    fn has_bias(self) -> bool {
        match self {
            Epilogue::Rows { bias, .. } | Epilogue::RopeKv { bias, .. } => bias,
            Epilogue::Glu { .. } => false,
        }
    }

    fn constants(self, n_out: usize) -> Vec<(&'static str, f64)> {
        match self {
            Epilogue::Rows {
                residual,
                bias,
                gelu,
            } => vec![
                ("N_OUT", constant(n_out)),
                ("RESIDUAL", f64::from(u8::from(residual))),
                ("HAS_BIAS", f64::from(u8::from(bias))),
                ("GELU", f64::from(u8::from(gelu))),
            ],
            Epilogue::Glu { gelu } => vec![
                ("N_OUT", constant(n_out)),
                ("GELU", f64::from(u8::from(gelu))),
            ],
            Epilogue::RopeKv {
                heads,
                pairwise,
                bias,
            } => vec![
                ("N_HEAD", constant(heads.n_head)),
                ("N_HEAD_KV", constant(heads.n_head_kv)),
                ("HEAD_DIM", constant(heads.head_dim)),
                ("PAIRWISE", f64::from(u8::from(pairwise))),
                ("HAS_BIAS", f64::from(u8::from(bias))),
            ],
        }
    }

    fn label(self) -> String {
        match self {
            Epilogue::Rows {
                residual,
                bias,
                gelu,
            } => format!(
                "{}{}{}",
                if bias { "+bias" } else { "" },
                if gelu { "+gelu" } else { "" },
                if residual { "+residual" } else { "" }
            ),
            Epilogue::Glu { gelu: false } => "+swiglu".into(),
            Epilogue::Glu { gelu: true } => "+geglu".into(),
            Epilogue::RopeKv { bias, .. } => {
                format!("{}+rope+kv", if bias { "+bias" } else { "" })
            }
        }
    }
}

/// The RMSNorm a product's one-token kernels apply to their input (the residual stream)
/// before the product, instead of a norm dispatch of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputNorm {
    /// The norm's epsilon, as f32 bits (so that a spec can be a pipeline cache key).
    eps_bits: u32,
}

impl InputNorm {
    pub fn rms(eps: f32) -> Self {
        Self {
            eps_bits: eps.to_bits(),
        }
    }

    fn eps(self) -> f32 {
        f32::from_bits(self.eps_bits)
    }
}

/// The fixed shape and fusions of one linear kernel variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinearSpec {
    /// Input length (matrix columns), a multiple of the format's group.
    pub k: usize,
    /// Output units of the whole (unsharded) product: the output row stride.
    pub n_out: usize,
    pub epilogue: Epilogue,
    /// The norm of the input, applied by the one-token kernels (`tile1`, `quad1`, `splitk`); the
    /// prefill kernel reads inputs normed by a norm dispatch.
    pub norm: Option<InputNorm>,
}

/// Which tokens of the chunk one dispatch computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearTokens {
    /// Every token, `1` or `8` per invocation (8 reuses each weight word for 8 tokens).
    All { per_invocation: u32 },
    /// Only the chunk's last token, written to output row 0 (the last-token logits).
    Last,
    /// A chunk of exactly one token (a decode step); CPU adapters read its input row
    /// through a uniform binding where one holds it (`InputBinding::UniformRow`).
    Single,
}

impl LinearTokens {
    fn per_invocation(self) -> u32 {
        match self {
            Self::All { per_invocation } => per_invocation,
            Self::Last | Self::Single => 1,
        }
    }
}

/// Where an epilogue stores, by `Epilogue` kind.
#[derive(Clone, Copy)]
pub enum LinearOut<'a> {
    Rows {
        /// `[n_tokens, n_out]` f32.
        y: &'a wgpu::Buffer,
        /// Bias of the whole product, when the spec has one.
        bias: Option<&'a wgpu::Buffer>,
    },
    Glu {
        /// `[n_tokens, n_out]` f32.
        act: &'a wgpu::Buffer,
    },
    RopeKv {
        /// `[n_tokens, q_dim]` f32.
        q: &'a wgpu::Buffer,
        bias: Option<&'a wgpu::Buffer>,
        /// `[n_ctx, head_dim / 2]` (cos, sin).
        cos_sin: &'a wgpu::Buffer,
        /// `[n_ctx, kv_dim]` f32 each.
        k_cache: &'a wgpu::Buffer,
        v_cache: &'a wgpu::Buffer,
    },
}

/// The buffers a linear kernel reads and writes, for one shard of its weight.
pub struct LinearBindings<'a> {
    /// Uniform `params::Step`.
    pub step: &'a wgpu::Buffer,
    /// Uniform `params::Shard` of this shard (`MatrixShard::params`).
    pub shard: &'a wgpu::Buffer,
    /// `[n_tokens, k]` f32: the residual stream for a kernel that norms its input
    /// (`Linear::norms_input`), the product's input otherwise.
    pub x: &'a wgpu::Buffer,
    /// The shard's words (`gpu::weights` layout).
    pub w: &'a wgpu::Buffer,
    /// `[k]` f32: the weight of the input's norm, for a kernel that norms its input.
    pub norm: Option<&'a wgpu::Buffer>,
    pub out: LinearOut<'a>,
}

/// The norm a kernel for `tokens` applies: the spec's, in the one-token kernels only.
fn applied_norm(spec: LinearSpec, tokens: LinearTokens) -> Option<InputNorm> {
    spec.norm.filter(|_| tokens.per_invocation() == 1)
}

pub struct Linear {
    pub kernel: Kernel,
    pub spec: LinearSpec,
    pub format: GpuFormat,
    pub tokens: LinearTokens,
    /// Tiles of 32 rows per workgroup: two in the CPU adapters' kernels (`tile1`, `quad1`, `tile8`:
    /// each input load serves twice the rows), one in `splitk`.
    tiles_per_workgroup: usize,
}

impl Linear {
    /// The variant of `ctx.kernel_shape()`: one-token products run split over K on GPUs
    /// (`splitk`), as lanes of rows on CPU adapters (`quad1`: 4 rows per vector load;
    /// `tile1`: one); 8-token tiles are one shape.
    pub async fn new(
        ctx: &GpuContext,
        spec: LinearSpec,
        format: GpuFormat,
        tokens: LinearTokens,
    ) -> Result<Self> {
        let split = ctx.kernel_shape() == KernelShape::SplitK;
        let entry = match tokens.per_invocation() {
            1 if split => "splitk",
            1 if ctx.quads() => "quad1",
            1 => "tile1",
            8 => "tile8",
            n => {
                return Err(Error::Gpu(format!(
                    "linear kernels compute 1 or 8 tokens per invocation, not {n}"
                )))
            }
        };
        format.check_cols("linear kernel input", spec.k)?;
        let last = tokens == LinearTokens::Last;
        if last && spec.epilogue.layout() == RowLayout::Pairs {
            return Err(Error::Gpu(
                "a paired product computes every token of a chunk".into(),
            ));
        }
        let norm = applied_norm(spec, tokens);
        let uniform_bytes = 4 * spec.k as u64;
        let input = if tokens == LinearTokens::Single
            && entry != "splitk"
            && uniform_bytes <= ctx.limits().max_uniform_buffer_binding_size
        {
            InputBinding::UniformRow { k: spec.k }
        } else {
            InputBinding::Storage
        };
        let mut constants = vec![
            ("K", constant(spec.k)),
            ("LAST_TOKEN", f64::from(u8::from(last))),
            ("NORM", f64::from(u8::from(norm.is_some()))),
        ];
        if let Some(norm) = norm {
            constants.push(("EPS", f64::from(norm.eps())));
        }
        constants.extend(spec.epilogue.constants(spec.n_out));
        let label = format!(
            "linear[{} {}{} k{}n{}{} {}]",
            entry,
            if norm.is_some() { "rmsnorm+" } else { "" },
            format.name(),
            spec.k,
            spec.n_out,
            spec.epilogue.label(),
            match tokens {
                LinearTokens::Last => "last".to_string(),
                LinearTokens::Single if input != InputBinding::Storage => "single uniform-x".into(),
                LinearTokens::Single => "single".into(),
                LinearTokens::All { per_invocation } => format!("x{per_invocation}"),
            }
        );
        let mut slots = vec![
            Slot::Uniform,
            Slot::Uniform,
            input.slot(),
            Slot::Read,
            Slot::Read,
        ];
        slots.extend_from_slice(spec.epilogue.slots());
        let view = match entry {
            "quad1" => WeightView::Quads,
            _ => WeightView::Words,
        };
        let source = source(format, view, input, spec.epilogue);
        let kernel = Kernel::new(ctx, &label, &source, entry, &slots, &constants).await?;
        Ok(Self {
            kernel,
            spec,
            format,
            tokens,
            tiles_per_workgroup: if entry == "splitk" { 1 } else { 2 },
        })
    }

    /// Whether the kernel norms its input itself (bound to the residual stream and the
    /// norm's weight).
    pub fn norms_input(&self) -> bool {
        applied_norm(self.spec, self.tokens).is_some()
    }

    /// The bias buffer to bind: the given one, or a placeholder when the spec has none.
    fn bias<'b>(
        &self,
        ctx: &'b GpuContext,
        bias: Option<&'b wgpu::Buffer>,
    ) -> Result<&'b wgpu::Buffer> {
        match (self.spec.epilogue.has_bias(), bias) {
            (true, None) => Err(Error::Gpu(format!("{}: no bias bound", self.kernel.label))),
            (_, bias) => Ok(bias.unwrap_or(ctx.placeholder())),
        }
    }

    pub fn bind(&self, ctx: &GpuContext, b: &LinearBindings) -> Result<wgpu::BindGroup> {
        let e = self.spec.epilogue;
        let bias = |bb| self.bias(ctx, bb);
        let norm = match (self.norms_input(), b.norm) {
            (true, None) => {
                return Err(Error::Gpu(format!(
                    "{}: no norm weight bound",
                    self.kernel.label
                )))
            }
            (_, norm) => norm.unwrap_or(ctx.placeholder()),
        };
        let mut buffers = vec![b.step, b.shard, b.x, b.w, norm];
        match (e, b.out) {
            (Epilogue::Rows { .. }, LinearOut::Rows { y, bias: bb }) => {
                buffers.extend([y, bias(bb)?])
            }
            (Epilogue::Glu { .. }, LinearOut::Glu { act }) => buffers.push(act),
            (
                Epilogue::RopeKv { .. },
                LinearOut::RopeKv {
                    q,
                    bias: bb,
                    cos_sin,
                    k_cache,
                    v_cache,
                },
            ) => buffers.extend([q, bias(bb)?, cos_sin, k_cache, v_cache]),
            _ => {
                return Err(Error::Gpu(format!(
                    "{}: outputs of another epilogue bound",
                    self.kernel.label
                )))
            }
        }
        self.kernel.bind(ctx, &buffers)
    }

    /// Records the product of the chunk's `n_tokens` with one shard of `tiles` tiles.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind: &wgpu::BindGroup,
        tiles: usize,
        n_tokens: usize,
    ) {
        // `grid` puts tiles beyond 65535 in its second dimension; tokens take y here, so
        // that overflow goes to z (the shader flattens x + z * num_workgroups.x).
        let gy = match self.tokens {
            LinearTokens::Last | LinearTokens::Single => 1,
            LinearTokens::All { per_invocation } => (n_tokens as u32).div_ceil(per_invocation),
        };
        let [gx, overflow, _] = grid(tiles.div_ceil(self.tiles_per_workgroup) as u32);
        self.kernel.dispatch(pass, bind, [gx, gy, overflow]);
    }
}

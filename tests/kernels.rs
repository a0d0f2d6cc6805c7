//! Every kernel against the CPU reference (`hearth::reference`) on random inputs, with
//! shapes that are not multiples of the workgroup sizes and weights split across several
//! bindings. Runs on any adapter wgpu finds (lavapipe on machines without a GPU).

mod common;

use common::{gpu_context, max_abs_diff, random_tensor, random_vec, WEIGHT_DTYPES};
use hearth::formats::DType;
use hearth::gpu::formats::gpu_values;
use hearth::gpu::kernels::{
    linear_source, with_activation, with_format, InputBinding, WeightView, WEIGHT_SHADERS,
};
use hearth::gpu::kernels::{
    rope::{Heads, RopeBindings},
    Argmax, Attention, AttentionPath, Embedding, Epilogue, InputNorm, Linear, LinearBindings,
    LinearOut, LinearSpec, LinearTokens, NormKind, RmsNorm, Rope, SiluMul, Softmax,
};
use hearth::gpu::params::Step;
use hearth::gpu::{GpuContext, GpuFormat, GpuMatrix, KernelShape, RowLayout, RowMap};
use hearth::model::arch::FfnActivation;
use hearth::model::RopeStyle;
use hearth::reference;

/// Linear kernels: sums of 96 to 512 products of values of order 1 (magnitude ~10), f32.
const LINEAR_TOL: f32 = 2e-4;
/// SwiGLU of two linear outputs: each within LINEAR_TOL and of magnitude up to ~20, so
/// silu(g)·u is within ~2 · 20 · LINEAR_TOL.
const GLU_TOL: f32 = 8e-3;
/// Embedding rows: single weights of order 1, decoded once.
const EMBEDDING_TOL: f32 = 1e-6;
/// RMSNorm outputs are O(1).
const RMSNORM_TOL: f32 = 1e-5;
/// Rope: one rotation, table shared with the reference.
const ROPE_TOL: f32 = 1e-6;
/// Attention: weighted means of values in [-1, 1]; exp() differs slightly between CPU and GPU.
const ATTENTION_TOL: f32 = 1e-5;
const SOFTMAX_TOL: f32 = 1e-6;
/// silu·mul of values in [-8, 8] (outputs up to 64): one exp per element, and exp()
/// differs slightly between CPU and GPU; a few f32 ulps at 64.
const SILU_MUL_TOL: f32 = 2e-5;

const EPS: f32 = 1e-5;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn buffer(ctx: &GpuContext, label: &str, values: &[f32]) -> wgpu::Buffer {
    ctx.storage_init(label, bytemuck::cast_slice(values))
}

fn step(ctx: &GpuContext, pos: usize, n_tokens: usize) -> wgpu::Buffer {
    ctx.uniform_init("step", bytemuck::bytes_of(&Step::new(pos, n_tokens)))
}

/// Records what `f` dispatches into one compute pass and submits it.
fn run(ctx: &GpuContext, f: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        f(&mut pass);
    }
    ctx.queue().submit([enc.finish()]);
}

/// A [rows, cols] weight of `dtype` uploaded with at most `rows_per_shard` rows per
/// binding, and the values the GPU holds (for the reference).
fn weight(
    ctx: &GpuContext,
    dtype: DType,
    rows: usize,
    cols: usize,
    rows_per_shard: usize,
    seed: u64,
) -> (GpuMatrix, Vec<f32>) {
    let t = random_tensor(dtype, rows, cols, seed);
    let format = GpuFormat::for_dtype(dtype, "w").unwrap();
    let row_bytes = cols / format.group() * format.words() * 4;
    let narrow = ctx.with_max_binding((rows_per_shard * row_bytes) as u64);
    let m = GpuMatrix::upload(&narrow, &t).unwrap();
    (m, gpu_values(&t).unwrap())
}

/// A row length that is whole groups of `dtype`'s GPU format and, for 32-column groups,
/// an odd number of them.
fn cols_for(dtype: DType) -> usize {
    match GpuFormat::for_dtype(dtype, "w").unwrap().group() {
        256 => 512,
        _ => 96,
    }
}

#[test]
fn uniform_structs_match_wgsl() {
    let mut checked = 0;
    let mut sources: Vec<(String, String)> = hearth::gpu::kernels::SHADERS
        .iter()
        // Attention compiles only once sized for a head (below).
        .filter(|(f, _)| *f != "attention.wgsl" && !WEIGHT_SHADERS.iter().any(|(w, _)| w == f))
        .map(|(f, s)| (f.to_string(), with_activation(s)))
        .collect();
    for head_dim in [64, 256] {
        sources.push((
            format!("attention.wgsl head_dim {head_dim}"),
            hearth::gpu::kernels::attention_source(head_dim).expect("attention source"),
        ));
    }
    let epilogues = [
        Epilogue::Rows {
            residual: true,
            bias: true,
            gelu: true,
        },
        Epilogue::Glu { gelu: false },
        Epilogue::RopeKv {
            heads: HEADS,
            pairwise: true,
            bias: true,
        },
    ];
    for format in GpuFormat::ALL {
        sources.push((
            format!("embedding.wgsl+{}", format.name()),
            with_format(WEIGHT_SHADERS[0].1, format),
        ));
        for e in epilogues {
            for view in [WeightView::Words, WeightView::Quads] {
                for input in [InputBinding::Storage, InputBinding::UniformRow { k: 96 }] {
                    sources.push((
                        format!("linear.wgsl+{}+{view:?}+{input:?}+{e:?}", format.name()),
                        linear_source(format, view, input, e),
                    ));
                }
            }
        }
    }
    for (file, source) in &sources {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{file}: {}", e.emit_to_string(source)));
        for (name, members) in hearth::gpu::params::layouts() {
            let Some((_, ty)) = module
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(name))
            else {
                continue;
            };
            let naga::TypeInner::Struct { members: wgsl, .. } = &ty.inner else {
                panic!("{file}: {name} is not a struct");
            };
            let got: Vec<(String, u32)> = wgsl
                .iter()
                .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
                .collect();
            let want: Vec<(String, u32)> =
                members.iter().map(|(n, o)| (n.to_string(), *o)).collect();
            assert_eq!(got, want, "{file}: struct {name} differs from gpu::params");
            checked += 1;
        }
    }
    // Step: rmsnorm, rope, attention (two head sizes), silu_mul, linear; Shard: linear,
    // embedding (each weight shader once per format, linear once per epilogue, weight view
    // and input).
    let formats = GpuFormat::ALL.len();
    assert_eq!(
        checked,
        5 + 2 * 3 * 2 * 2 * formats + formats,
        "uniform structs found in the shaders"
    );
}

#[test]
fn weights_split_into_ragged_shards() {
    let ctx = gpu_context();
    // 37 rows, 32 per binding: shards of whole tiles; the last is padded.
    for dtype in [DType::F16, DType::Q4_1, DType::Q6_K] {
        let (m, _) = weight(&ctx, dtype, 37, cols_for(dtype), 32, 1);
        let shards: Vec<(usize, usize, usize)> = m
            .shards
            .iter()
            .map(|s| (s.unit_start, s.n_units, s.tiles))
            .collect();
        assert_eq!(shards, vec![(0, 32, 1), (32, 5, 1)], "{dtype:?}");
        let f = m.format;
        let words = cols_for(dtype) / f.group() * f.words();
        assert_eq!(m.gpu_bytes(), (64 * words * 4) as u64, "{dtype:?}");
    }
    // 37 pairs: 16 per tile.
    let (f, cols) = (GpuFormat::Q4_1, 96);
    let narrow = ctx.with_max_binding((32 * cols / 32 * f.words() * 4) as u64);
    let m = GpuMatrix::new(&narrow, "pairs", f, RowLayout::Pairs, 37, cols, 0).unwrap();
    let shards: Vec<(usize, usize, usize)> = m
        .shards
        .iter()
        .map(|s| (s.unit_start, s.n_units, s.tiles))
        .collect();
    assert_eq!(shards, vec![(0, 16, 1), (16, 16, 1), (32, 5, 1)]);
    // Rows that are not whole groups of the format are refused.
    for (format, cols) in [(GpuFormat::F16, 132), (GpuFormat::Q4K, 288)] {
        let res = GpuMatrix::new(&ctx, "bad", format, RowLayout::Rows, 2, cols, 0);
        let refused = matches!(res, Err(hearth::Error::InvalidConfig(_)));
        assert!(refused, "{format:?} {cols}");
    }
    // A tensor of another type than the matrix's format is refused, and so are rows past
    // the matrix and a map of the other layout.
    let m = GpuMatrix::new(&ctx, "q8", GpuFormat::Q8_0, RowLayout::Rows, 32, 96, 0).unwrap();
    let t = random_tensor(DType::Q4_0, 32, 96, 2);
    assert!(matches!(
        m.write_tensor(&ctx, RowMap::Offset(0), &t),
        Err(hearth::Error::Gpu(_))
    ));
    let t = random_tensor(DType::Q8_0, 32, 96, 2);
    for map in [RowMap::Offset(32), RowMap::Side { at: 0, side: 0 }] {
        assert!(matches!(
            m.write_tensor(&ctx, map, &t),
            Err(hearth::Error::ShapeMismatch { .. })
        ));
    }
}

/// Binds `kernel` to every shard of `w` and runs the product of the chunk's `n` tokens
/// (`norm`: the weight of the norm a kernel that norms its input applies).
#[allow(clippy::too_many_arguments)]
fn run_product(
    ctx: &GpuContext,
    kernel: &Linear,
    w: &GpuMatrix,
    step: &wgpu::Buffer,
    x: &wgpu::Buffer,
    norm: Option<&wgpu::Buffer>,
    out: LinearOut,
    n: usize,
) {
    let groups: Vec<_> = w
        .shards
        .iter()
        .map(|s| {
            let b = LinearBindings {
                step,
                shard: &s.params,
                x,
                w: &s.buffer,
                norm,
                out,
            };
            kernel.bind(ctx, &b).unwrap()
        })
        .collect();
    run(ctx, |pass| {
        for (s, g) in w.shards.iter().zip(&groups) {
            kernel.dispatch(pass, g, s.tiles, n);
        }
    });
}

/// The epsilon of the norms the one-token kernels apply to their inputs in these tests.
const INPUT_NORM_EPS: f32 = 1e-5;

/// A norm weight for inputs of length `k` (`Some` when `norm`), its buffer, the spec's
/// `InputNorm`, and the rows the reference multiplies: `x` as it is or normed by it.
struct TestNorm {
    weight: Option<wgpu::Buffer>,
    spec: Option<InputNorm>,
    rows: Vec<f32>,
}

fn test_norm(ctx: &GpuContext, norm: bool, x: &[f32], k: usize) -> TestNorm {
    if !norm {
        return TestNorm {
            weight: None,
            spec: None,
            rows: x.to_vec(),
        };
    }
    let w: Vec<f32> = random_vec(k, 41).iter().map(|v| 1.0 + v).collect();
    TestNorm {
        weight: Some(buffer(ctx, "norm weight", &w)),
        spec: Some(InputNorm::rms(INPUT_NORM_EPS)),
        rows: x
            .chunks_exact(k)
            .flat_map(|r| reference::rmsnorm(r, &w, INPUT_NORM_EPS))
            .collect(),
    }
}

/// A kernel variant: shape, and whether the one-token `Lanes` kernel reads 4 rows per
/// load (`quad1`) or one (`tile1`).
type Variant = (KernelShape, bool);
const QUAD8: Variant = (KernelShape::Lanes, true);
const VARIANTS: [Variant; 3] = [
    QUAD8,
    (KernelShape::Lanes, false),
    (KernelShape::SplitK, false),
];

/// Runs one linear kernel variant over a 2-shard [37, k] weight for a chunk of
/// `n_tokens` and checks it against the reference.
fn check_linear(
    (shape, quads): Variant,
    dtype: DType,
    tokens: LinearTokens,
    (bias, gelu, residual, norm): (bool, bool, bool, bool),
    n_tokens: usize,
) {
    let ctx = gpu_context().with_kernel_shape(shape).with_quads(quads);
    let rows = 37;
    let k = cols_for(dtype);
    let (w, w_ref) = weight(&ctx, dtype, rows, k, 32, 2);
    assert_eq!(w.shards.len(), 2);
    let x = random_vec(n_tokens * k, 3);
    let input = test_norm(&ctx, norm, &x, k);
    let bias_v = random_vec(rows, 5);
    let y0 = random_vec(n_tokens * rows, 6);
    let spec = LinearSpec {
        k,
        n_out: rows,
        epilogue: Epilogue::Rows {
            residual,
            bias,
            gelu,
        },
        norm: input.spec,
    };
    // Reference: the rows the kernel computes; `Last` writes the last token to row 0.
    let first = match tokens {
        LinearTokens::Last => n_tokens - 1,
        LinearTokens::All { .. } | LinearTokens::Single => 0,
    };
    let mut want = Vec::new();
    for (t, xr) in input.rows.chunks_exact(k).skip(first).enumerate() {
        let mut y = reference::matmul(xr, &w_ref, k);
        for (r, v) in y.iter_mut().enumerate() {
            if bias {
                *v += bias_v[r];
            }
            if gelu {
                *v = reference::gelu_tanh(*v);
            }
            if residual {
                *v += y0[t * rows + r];
            }
        }
        want.extend(y);
    }
    // Rows the kernel must not touch keep their values.
    want.extend_from_slice(&y0[want.len()..]);

    let step_buf = step(&ctx, 0, n_tokens);
    let x_buf = buffer(&ctx, "x", &x);
    let y_buf = buffer(&ctx, "y", &y0);
    let bias_buf = buffer(&ctx, "bias", &bias_v);
    let kernel = block(Linear::new(&ctx, spec, w.format, tokens)).unwrap();
    // CPU adapters read a decode step's input through a uniform binding.
    let uniform_input = tokens == LinearTokens::Single && shape == KernelShape::Lanes;
    assert_eq!(kernel.kernel.label.contains("uniform-x"), uniform_input);
    let one_token = !matches!(tokens, LinearTokens::All { per_invocation: 8 });
    let quad1 = quads && shape == KernelShape::Lanes && one_token;
    assert_eq!(kernel.kernel.label.contains("quad1"), quad1);
    // The prefill kernel reads normed inputs (a norm dispatch writes them).
    let normed = !kernel.norms_input() && norm;
    let x_buf = match normed {
        true => buffer(&ctx, "normed x", &input.rows),
        false => x_buf,
    };
    run_product(
        &ctx,
        &kernel,
        &w,
        &step_buf,
        &x_buf,
        input.weight.as_ref(),
        LinearOut::Rows {
            y: &y_buf,
            bias: bias.then_some(&bias_buf),
        },
        n_tokens,
    );
    let got = block(ctx.read_f32(&y_buf, want.len())).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(
        diff <= LINEAR_TOL,
        "{shape:?} quads={quads} {dtype:?} {tokens:?} k={k} bias={bias} gelu={gelu} residual={residual} \
         norm={norm} n={n_tokens}: max diff {diff}"
    );
}

#[test]
fn linear_variants_match_reference() {
    let one = LinearTokens::All { per_invocation: 1 };
    let eight = LinearTokens::All { per_invocation: 8 };
    let cpu = QUAD8;
    let shapes = VARIANTS;
    for shape in shapes {
        for dtype in WEIGHT_DTYPES {
            check_linear(shape, dtype, one, (true, false, true, false), 5);
            check_linear(shape, dtype, one, (true, true, false, false), 3);
            check_linear(
                shape,
                dtype,
                LinearTokens::Last,
                (true, false, true, false),
                13,
            );
            check_linear(
                shape,
                dtype,
                LinearTokens::Last,
                (false, false, false, false),
                1,
            );
            // One token (a decode step: CPU adapters read it through a uniform binding).
            check_linear(
                shape,
                dtype,
                LinearTokens::Single,
                (true, false, true, false),
                1,
            );
            check_linear(
                shape,
                dtype,
                LinearTokens::Single,
                (false, false, false, true),
                1,
            );
            // The input's RMSNorm in the kernel: every token, and the last of a chunk.
            check_linear(shape, dtype, one, (true, false, false, true), 3);
            check_linear(
                shape,
                dtype,
                LinearTokens::Last,
                (false, false, false, true),
                7,
            );
        }
    }
    for dtype in WEIGHT_DTYPES {
        check_linear(cpu, dtype, eight, (false, false, false, false), 13);
        check_linear(cpu, dtype, eight, (true, false, true, false), 5);
        check_linear(cpu, dtype, eight, (true, true, false, false), 9);
    }
    check_linear(cpu, DType::Q4_1, eight, (false, false, true, false), 1);
    // A spec with a norm leaves it to a norm dispatch in the prefill kernel.
    check_linear(cpu, DType::Q4_K, eight, (false, false, false, true), 9);
    let ctx = gpu_context();
    let spec = LinearSpec {
        k: 96,
        n_out: 37,
        epilogue: Epilogue::Rows {
            residual: false,
            bias: false,
            gelu: false,
        },
        norm: None,
    };
    let four = LinearTokens::All { per_invocation: 4 };
    assert!(block(Linear::new(&ctx, spec, GpuFormat::Q4_0, four)).is_err());
    // An input length that is not whole groups of the format.
    let spec = LinearSpec { k: 96, ..spec };
    assert!(block(Linear::new(&ctx, spec, GpuFormat::Q4K, one)).is_err());
}

/// Uploads `parts` (tensor, row map) into one paired matrix of `units` pairs with at
/// most `tiles_per_shard` tiles per binding.
fn paired_matrix(
    ctx: &GpuContext,
    dtype: DType,
    units: usize,
    cols: usize,
    tiles_per_shard: usize,
    parts: &[(&hearth::formats::Tensor, RowMap)],
) -> GpuMatrix {
    let format = GpuFormat::for_dtype(dtype, "w").unwrap();
    let tile_bytes = 32 * cols / format.group() * format.words() * 4;
    let narrow = ctx.with_max_binding((tiles_per_shard * tile_bytes) as u64);
    let m = GpuMatrix::new(&narrow, "pairs", format, RowLayout::Pairs, units, cols, 0).unwrap();
    for (t, map) in parts {
        m.write_tensor(ctx, *map, t).unwrap();
    }
    m
}

/// The SwiGLU epilogue: gate and up paired in one matrix of 37 pairs over 3 bindings.
/// The tokens variant the model runs for a chunk of `n` at `per_invocation` (a decode step
/// is `Single`).
fn one_or_all(per_invocation: u32, n: usize) -> LinearTokens {
    match (per_invocation, n) {
        (1, 1) => LinearTokens::Single,
        _ => LinearTokens::All { per_invocation },
    }
}

fn check_glu((shape, quads): Variant, dtype: DType, per_invocation: u32, n: usize, norm: bool) {
    let ctx = gpu_context().with_kernel_shape(shape).with_quads(quads);
    let (ff, k) = (37, cols_for(dtype));
    let gate = random_tensor(dtype, ff, k, 21);
    let up = random_tensor(dtype, ff, k, 22);
    let w = paired_matrix(
        &ctx,
        dtype,
        ff,
        k,
        1,
        &[
            (&gate, RowMap::Side { at: 0, side: 0 }),
            (&up, RowMap::Side { at: 0, side: 1 }),
        ],
    );
    assert_eq!(w.shards.len(), 3);
    let (g_ref, u_ref) = (gpu_values(&gate).unwrap(), gpu_values(&up).unwrap());
    let x = random_vec(n * k, 23);
    let input = test_norm(&ctx, norm, &x, k);
    let want: Vec<f32> = input
        .rows
        .chunks_exact(k)
        .flat_map(|xr| {
            let g = reference::matmul(xr, &g_ref, k);
            let u = reference::matmul(xr, &u_ref, k);
            reference::silu_mul(&g, &u)
        })
        .collect();
    let spec = LinearSpec {
        k,
        n_out: ff,
        epilogue: Epilogue::Glu { gelu: false },
        norm: input.spec,
    };
    let tokens = one_or_all(per_invocation, n);
    let kernel = block(Linear::new(&ctx, spec, w.format, tokens)).unwrap();
    assert_eq!(kernel.norms_input(), norm && per_invocation == 1);
    let step_buf = step(&ctx, 0, n);
    let x_buf = match kernel.norms_input() {
        true => buffer(&ctx, "x", &x),
        false => buffer(&ctx, "x", &input.rows),
    };
    let act = ctx.storage("act", (n * ff * 4) as u64);
    run_product(
        &ctx,
        &kernel,
        &w,
        &step_buf,
        &x_buf,
        input.weight.as_ref(),
        LinearOut::Glu { act: &act },
        n,
    );
    let got = block(ctx.read_f32(&act, n * ff)).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(
        diff <= GLU_TOL,
        "{shape:?} quads={quads} {dtype:?} x{per_invocation} n={n} norm={norm}: max diff {diff}"
    );
}

/// The rope + KV epilogue: Q, K and V paired in one matrix (over several bindings), bias
/// added, Q and K rotated at positions pos.., K and V stored in the caches.
fn check_rope_kv(
    (shape, quads): Variant,
    dtype: DType,
    style: RopeStyle,
    per_invocation: u32,
    n: usize,
    norm: bool,
) {
    let ctx = gpu_context().with_kernel_shape(shape).with_quads(quads);
    let (pos, n_ctx, theta) = (3, 16, 10000.0f32);
    let hd = HEADS.head_dim;
    let (q_dim, kv_dim, k) = (HEADS.n_head * hd, HEADS.n_head_kv * hd, cols_for(dtype));
    let wq = random_tensor(dtype, q_dim, k, 31);
    let wk = random_tensor(dtype, kv_dim, k, 32);
    let wv = random_tensor(dtype, kv_dim, k, 33);
    let pairwise = style == RopeStyle::Pairwise;
    let half = hd / 2;
    let rotary = |at| RowMap::Rotary { at, half, pairwise };
    let w = paired_matrix(
        &ctx,
        dtype,
        (q_dim + 2 * kv_dim) / 2,
        k,
        4,
        &[
            (&wq, rotary(0)),
            (&wk, rotary(q_dim / 2)),
            (
                &wv,
                RowMap::Chunks {
                    at: q_dim / 2 + kv_dim / 2,
                },
            ),
        ],
    );
    assert!(w.shards.len() > 1);
    let w_ref: Vec<f32> = [&wq, &wk, &wv]
        .iter()
        .flat_map(|t| gpu_values(t).unwrap())
        .collect();
    let x = random_vec(n * k, 34);
    let input = test_norm(&ctx, norm, &x, k);
    let bias = random_vec(q_dim + 2 * kv_dim, 35);
    let table: Vec<f32> = reference::rope_table(theta, hd, n_ctx)
        .into_iter()
        .flatten()
        .collect();
    let spec = LinearSpec {
        k,
        n_out: (q_dim + 2 * kv_dim) / 2,
        epilogue: Epilogue::RopeKv {
            heads: HEADS,
            pairwise,
            bias: true,
        },
        norm: input.spec,
    };
    let tokens = one_or_all(per_invocation, n);
    let kernel = block(Linear::new(&ctx, spec, w.format, tokens)).unwrap();
    let step_buf = step(&ctx, pos, n);
    let x_buf = match kernel.norms_input() {
        true => buffer(&ctx, "x", &x),
        false => buffer(&ctx, "x", &input.rows),
    };
    let (bias_buf, table_buf) = (buffer(&ctx, "bias", &bias), buffer(&ctx, "table", &table));
    let q_buf = ctx.storage("q", (n * q_dim * 4) as u64);
    let k_cache = ctx.storage("k", (n_ctx * kv_dim * 4) as u64);
    let v_cache = ctx.storage("v", (n_ctx * kv_dim * 4) as u64);
    run_product(
        &ctx,
        &kernel,
        &w,
        &step_buf,
        &x_buf,
        input.weight.as_ref(),
        LinearOut::RopeKv {
            q: &q_buf,
            bias: Some(&bias_buf),
            cos_sin: &table_buf,
            k_cache: &k_cache,
            v_cache: &v_cache,
        },
        n,
    );
    let got_q = block(ctx.read_f32(&q_buf, n * q_dim)).unwrap();
    let got_k = block(ctx.read_f32(&k_cache, n_ctx * kv_dim)).unwrap();
    let got_v = block(ctx.read_f32(&v_cache, n_ctx * kv_dim)).unwrap();
    let what =
        format!("{shape:?} quads={quads} {dtype:?} {style:?} x{per_invocation} n={n} norm={norm}");
    for (t, xr) in input.rows.chunks_exact(k).enumerate() {
        let mut y = reference::matmul(xr, &w_ref, k);
        y.iter_mut().zip(&bias).for_each(|(v, b)| *v += b);
        let (mut q, rest) = (y[..q_dim].to_vec(), &y[q_dim..]);
        let (mut kk, v) = (rest[..kv_dim].to_vec(), &rest[kv_dim..]);
        reference::rope(&mut q, hd, pos + t, theta, style);
        reference::rope(&mut kk, hd, pos + t, theta, style);
        let p = pos + t;
        let dq = max_abs_diff(&got_q[t * q_dim..(t + 1) * q_dim], &q);
        let dk = max_abs_diff(&got_k[p * kv_dim..(p + 1) * kv_dim], &kk);
        let dv = max_abs_diff(&got_v[p * kv_dim..(p + 1) * kv_dim], v);
        assert!(
            dq <= LINEAR_TOL && dk <= LINEAR_TOL && dv <= LINEAR_TOL,
            "{what} t={t}: q {dq} k {dk} v {dv}"
        );
    }
    // Cache rows outside pos..pos+n are untouched.
    assert!(got_k[..pos * kv_dim].iter().all(|&v| v == 0.0), "{what}");
    assert!(
        got_v[(pos + n) * kv_dim..].iter().all(|&v| v == 0.0),
        "{what}"
    );
}

#[test]
fn paired_epilogues_match_reference() {
    for shape in VARIANTS {
        for dtype in WEIGHT_DTYPES {
            check_glu(shape, dtype, 1, 1, false);
            check_glu(shape, dtype, 1, 1, true);
            check_glu(shape, dtype, 8, 11, false);
        }
        for style in [RopeStyle::Pairwise, RopeStyle::RotateHalf] {
            check_rope_kv(shape, DType::Q4_K, style, 1, 1, false);
            check_rope_kv(shape, DType::Q6_K, style, 1, 1, true);
            check_rope_kv(shape, DType::Q8_0, style, 8, 5, false);
        }
    }
    check_glu(QUAD8, DType::Q4_1, 8, 11, true);
    for dtype in WEIGHT_DTYPES {
        check_rope_kv(QUAD8, dtype, RopeStyle::RotateHalf, 1, 2, false);
    }
    // A paired product computes every token: no last-token variant.
    let spec = LinearSpec {
        k: 96,
        n_out: 37,
        epilogue: Epilogue::Glu { gelu: false },
        norm: None,
    };
    let ctx = gpu_context();
    assert!(block(Linear::new(&ctx, spec, GpuFormat::Q4_0, LinearTokens::Last)).is_err());
}

#[test]
fn silu_mul_and_gelu_mul_match_reference() {
    for act in [FfnActivation::Silu, FfnActivation::GeluTanh] {
        gated_matches_reference(act);
    }
}

fn gated_matches_reference(act: FfnActivation) {
    let ctx = gpu_context();
    let (n, ff) = (5, 130);
    let gu: Vec<f32> = random_vec(n * 2 * ff, 16).iter().map(|v| v * 8.0).collect();
    let want: Vec<f32> = gu
        .chunks_exact(2 * ff)
        .flat_map(|r| reference::gated(act, &r[..ff], &r[ff..]))
        .collect();
    let gelu = act == FfnActivation::GeluTanh;
    let kernel = block(SiluMul::new(&ctx, ff, gelu)).unwrap();
    let (step_buf, gu_buf, out) = (
        step(&ctx, 0, n),
        buffer(&ctx, "gate|up", &gu),
        ctx.storage("out", (n * ff * 4) as u64),
    );
    let g = kernel.bind(&ctx, &step_buf, &gu_buf, &out).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g, n));
    let got = block(ctx.read_f32(&out, n * ff)).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= SILU_MUL_TOL, "{act:?}: max diff {diff}");
}

#[test]
fn norms_match_reference_stored_added_and_layer() {
    let ctx = gpu_context();
    let (n, dim) = (5, 130);
    let x = random_vec(n * dim, 7);
    let w = random_vec(dim, 8);
    let b = random_vec(dim, 10);
    let y0 = random_vec(n * dim, 9);
    let norm =
        |f: &dyn Fn(&[f32]) -> Vec<f32>| -> Vec<f32> { x.chunks_exact(dim).flat_map(f).collect() };
    let rms = norm(&|r| reference::rmsnorm(r, &w, EPS));
    for kind in [NormKind::Rms, NormKind::RmsAdd, NormKind::Layer] {
        let want: Vec<f32> = match kind {
            NormKind::Rms => rms.clone(),
            // Added: y (the residual stream) += the normed rows.
            NormKind::RmsAdd => rms.iter().zip(&y0).map(|(a, b)| a + b).collect(),
            NormKind::Layer => norm(&|r| reference::layernorm(r, &w, &b, EPS)),
        };
        let kernel = block(RmsNorm::new(&ctx, dim, EPS, kind)).unwrap();
        let (xb, wb, bb, yb) = (
            buffer(&ctx, "x", &x),
            buffer(&ctx, "w", &w),
            buffer(&ctx, "b", &b),
            buffer(&ctx, "y", &y0),
        );
        let step_buf = step(&ctx, 0, n);
        let bias = (kind == NormKind::Layer).then_some(&bb);
        let g = kernel.bind(&ctx, &step_buf, &xb, &wb, bias, &yb).unwrap();
        run(&ctx, |pass| kernel.dispatch(pass, &g, n));
        let got = block(ctx.read_f32(&yb, n * dim)).unwrap();
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= RMSNORM_TOL, "{kind:?}: diff {diff}");
    }
}

const HEADS: Heads = Heads {
    n_head: 9,
    n_head_kv: 3,
    head_dim: 64,
};

#[test]
fn rope_and_kv_store_match_reference_in_both_styles_with_and_without_qk_norm() {
    let ctx = gpu_context();
    let (n, pos, n_ctx, theta) = (5, 3, 16, 10000.0f32);
    let (q_dim, kv_dim) = (
        HEADS.n_head * HEADS.head_dim,
        HEADS.n_head_kv * HEADS.head_dim,
    );
    let qkv_dim = q_dim + 2 * kv_dim;
    // Each style plain, and after an RMSNorm of every query and key head (Qwen3).
    let eps = 1e-6f32;
    let norm_w: Vec<f32> = random_vec(2 * HEADS.head_dim, 4)
        .iter()
        .map(|v| 1.0 + 0.5 * v)
        .collect();
    let (q_norm, k_norm) = norm_w.split_at(HEADS.head_dim);
    let cases = [RopeStyle::Pairwise, RopeStyle::RotateHalf]
        .into_iter()
        .flat_map(|style| [(style, false), (style, true)]);
    for (style, qk_norm) in cases {
        let qkv = random_vec(n * qkv_dim, 9);
        let table: Vec<f32> = reference::rope_table(theta, HEADS.head_dim, n_ctx)
            .into_iter()
            .flatten()
            .collect();
        let kernel = block(Rope::new(&ctx, HEADS, style, qk_norm.then_some(eps))).unwrap();
        let norm_buf = buffer(&ctx, "qk norm", &norm_w);
        let qkv_buf = buffer(&ctx, "qkv", &qkv);
        let table_buf = buffer(&ctx, "rope table", &table);
        let k_cache = ctx.storage("k", (n_ctx * kv_dim * 4) as u64);
        let v_cache = ctx.storage("v", (n_ctx * kv_dim * 4) as u64);
        let q_buf = ctx.storage("q", (n * q_dim * 4) as u64);
        let step_buf = step(&ctx, pos, n);
        let bindings = RopeBindings {
            step: &step_buf,
            qkv: &qkv_buf,
            cos_sin: &table_buf,
            k_cache: &k_cache,
            v_cache: &v_cache,
            q: &q_buf,
            qk_norm: qk_norm.then_some(&norm_buf),
        };
        let g = kernel.bind(&ctx, &bindings).unwrap();
        run(&ctx, |pass| kernel.dispatch(pass, &g, n));
        let got_q = block(ctx.read_f32(&q_buf, n * q_dim)).unwrap();
        let got_k = block(ctx.read_f32(&k_cache, n_ctx * kv_dim)).unwrap();
        let got_v = block(ctx.read_f32(&v_cache, n_ctx * kv_dim)).unwrap();
        for t in 0..n {
            let row = &qkv[t * qkv_dim..(t + 1) * qkv_dim];
            let mut q = row[..q_dim].to_vec();
            let mut k = row[q_dim..q_dim + kv_dim].to_vec();
            if qk_norm {
                reference::head_norm(&mut q, q_norm, eps);
                reference::head_norm(&mut k, k_norm, eps);
            }
            reference::rope(&mut q, HEADS.head_dim, pos + t, theta, style);
            reference::rope(&mut k, HEADS.head_dim, pos + t, theta, style);
            let p = pos + t;
            let dq = max_abs_diff(&got_q[t * q_dim..(t + 1) * q_dim], &q);
            let dk = max_abs_diff(&got_k[p * kv_dim..(p + 1) * kv_dim], &k);
            let dv = max_abs_diff(&got_v[p * kv_dim..(p + 1) * kv_dim], &row[q_dim + kv_dim..]);
            assert!(
                dq <= ROPE_TOL && dk <= ROPE_TOL && dv == 0.0,
                "{style:?} qk_norm {qk_norm} t={t}: q {dq} k {dk} v {dv}"
            );
        }
        // Rows outside pos..pos+n are untouched.
        assert!(got_k[..pos * kv_dim].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn attention_matches_reference_with_partly_filled_cache_and_windows() {
    let ctx = gpu_context();
    let n_ctx = 100;
    // Whole context and a sliding window of 6; head_dim 64 and Gemma 3's 256.
    let wide = Heads {
        n_head: 4,
        n_head_kv: 1,
        head_dim: 256,
    };
    let cases = [
        (HEADS, None),
        (HEADS, Some(6)),
        (wide, None),
        (wide, Some(6)),
    ];
    for (heads, window) in cases {
        attention_matches_reference(&ctx, heads, window, n_ctx);
    }
}

fn attention_matches_reference(
    ctx: &GpuContext,
    heads: Heads,
    window: Option<usize>,
    n_ctx: usize,
) {
    let ctx = ctx.clone();
    let (q_dim, kv_dim) = (
        heads.n_head * heads.head_dim,
        heads.n_head_kv * heads.head_dim,
    );
    let kernel = block(Attention::new(&ctx, heads, window)).unwrap();
    // (pos, n): one query at 0; a prefill chunk crossing the 64-key block; decode at 70
    // and at 90 (keys not a multiple of `split`'s 32 invocations).
    for (pos, n) in [(0, 1), (60, 5), (70, 1), (90, 1), (0, 7)] {
        let q = random_vec(n * q_dim, 10 + pos as u64);
        // Cache rows past pos + n hold garbage that must be ignored.
        let k = random_vec(n_ctx * kv_dim, 11);
        let v = random_vec(n_ctx * kv_dim, 12);
        let want = reference::attention(
            &q,
            &k,
            &v,
            pos,
            reference::Heads {
                n_head: heads.n_head,
                n_head_kv: heads.n_head_kv,
                head_dim: heads.head_dim,
            },
            window,
        );
        let (q_buf, k_buf, v_buf) = (
            buffer(&ctx, "q", &q),
            buffer(&ctx, "k", &k),
            buffer(&ctx, "v", &v),
        );
        let step_buf = step(&ctx, pos, n);
        for path in [AttentionPath::Whole, AttentionPath::Split] {
            let out = ctx.storage("out", (n * q_dim * 4) as u64);
            let g = kernel
                .bind(&ctx, &step_buf, &q_buf, &k_buf, &v_buf, &out)
                .unwrap();
            run(&ctx, |pass| kernel.dispatch_path(pass, &g, n, path));
            let got = block(ctx.read_f32(&out, n * q_dim)).unwrap();
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff <= ATTENTION_TOL,
                "{heads:?} window {window:?} pos {pos} n {n} {path:?}: max diff {diff}"
            );
        }
    }
}

#[test]
fn attention_splits_the_keys_of_few_tokens_over_a_long_cache_only() {
    // SmolLM2's 9 query heads.
    let heads = Heads {
        n_head: 9,
        n_head_kv: 3,
        head_dim: 64,
    };
    assert_eq!(
        AttentionPath::for_step(&heads, 1, 1000),
        AttentionPath::Split
    );
    assert_eq!(
        AttentionPath::for_step(&heads, 4, 200),
        AttentionPath::Split
    );
    // Few keys: the workgroup's invocations would mostly have none.
    assert_eq!(AttentionPath::for_step(&heads, 1, 20), AttentionPath::Whole);
    // A prompt: one invocation per (token, head) already fills the adapter.
    assert_eq!(
        AttentionPath::for_step(&heads, 128, 1000),
        AttentionPath::Whole
    );
}

#[test]
fn embedding_gathers_from_sharded_table() {
    let ctx = gpu_context();
    for dtype in WEIGHT_DTYPES {
        let (vocab, dim) = (80, cols_for(dtype));
        let (table, table_ref) = weight(&ctx, dtype, vocab, dim, 32, 13);
        assert_eq!(table.shards.len(), 3);
        let tokens: [u32; 6] = [0, 79, 32, 31, 41, 70];
        // Scaled as Gemma's embedding is (by √dim there).
        let scale = 1.5;
        let x0 = random_vec(tokens.len() * dim, 15);
        for add in [false, true] {
            // Added, as GPT-2's position embedding is added to the tokens'.
            let kernel = block(Embedding::new(&ctx, dim, table.format, scale, add)).unwrap();
            let tok_buf = ctx.storage_init("tokens", bytemuck::cast_slice(&tokens));
            let x = buffer(&ctx, "x", &x0);
            let groups: Vec<_> = table
                .shards
                .iter()
                .map(|s| {
                    kernel
                        .bind(&ctx, &s.params, &tok_buf, &s.buffer, &x)
                        .unwrap()
                })
                .collect();
            run(&ctx, |pass| {
                groups
                    .iter()
                    .for_each(|g| kernel.dispatch(pass, g, tokens.len()))
            });
            let got = block(ctx.read_f32(&x, tokens.len() * dim)).unwrap();
            let want: Vec<f32> = tokens
                .iter()
                .flat_map(|&t| table_ref[t as usize * dim..(t as usize + 1) * dim].to_vec())
                .zip(&x0)
                .map(|(v, x)| v * scale + if add { *x } else { 0.0 })
                .collect();
            // Decoded as ggml does; a fused multiply-add may round the last bit differently.
            let diff = max_abs_diff(&got, &want);
            assert!(
                diff <= EMBEDDING_TOL,
                "{dtype:?} add {add}: max diff {diff}"
            );
        }
    }
}

#[test]
fn argmax_finds_first_maximum() {
    let ctx = gpu_context();
    let n = 3000;
    let mut logits = random_vec(n, 14);
    // A tie between first-pass invocations: the lowest index must win.
    logits[2500] = 5.0;
    logits[1500] = 5.0;
    logits[2999] = 5.0;
    let kernel = block(Argmax::new(&ctx, n)).unwrap();
    let lb = buffer(&ctx, "logits", &logits);
    let scratch = ctx.storage("scratch", kernel.scratch_bytes());
    let result = ctx.storage("result", 4);
    let g = kernel.bind(&ctx, &lb, &scratch, &result).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g));
    let got = block(ctx.read_u32(&result, 1)).unwrap()[0];
    assert_eq!(Some(got as usize), reference::argmax(&logits));
    assert_eq!(got, 1500);

    // A tie between logits scanned by the same first-pass invocation (1024 apart).
    logits[1030] = 6.0;
    logits[6] = 6.0;
    let lb = buffer(&ctx, "logits", &logits);
    let g = kernel.bind(&ctx, &lb, &scratch, &result).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g));
    assert_eq!(block(ctx.read_u32(&result, 1)).unwrap()[0], 6);

    // A vocabulary smaller than the first pass's invocations.
    let mut small = vec![0.0f32; 300];
    small[257] = 1.0;
    small[1] = 1.0;
    let kernel = block(Argmax::new(&ctx, small.len())).unwrap();
    let lb = buffer(&ctx, "logits", &small);
    let g = kernel.bind(&ctx, &lb, &scratch, &result).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g));
    assert_eq!(block(ctx.read_u32(&result, 1)).unwrap()[0], 1);
}

#[test]
fn softmax_matches_reference() {
    let ctx = gpu_context();
    let (rows, n) = (3, 1000);
    let x: Vec<f32> = random_vec(rows * n, 15).iter().map(|v| v * 20.0).collect();
    let mut want = x.clone();
    want.chunks_exact_mut(n).for_each(reference::softmax);
    let kernel = block(Softmax::new(&ctx, n)).unwrap();
    let (xb, yb) = (
        buffer(&ctx, "x", &x),
        ctx.storage("y", (rows * n * 4) as u64),
    );
    let g = kernel.bind(&ctx, &xb, &yb).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g, rows));
    let got = block(ctx.read_f32(&yb, rows * n)).unwrap();
    assert!(
        max_abs_diff(&got, &want) <= SOFTMAX_TOL,
        "diff {}",
        max_abs_diff(&got, &want)
    );
}

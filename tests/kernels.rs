//! Every kernel against the CPU reference (`hearth::reference`) on random inputs, with
//! shapes that are not multiples of the workgroup sizes and weights split across several
//! bindings. Runs on any adapter wgpu finds (lavapipe on machines without a GPU).

mod common;

use common::{gpu_context, max_abs_diff, random_vec};
use hearth::formats::{quant, DType, Tensor};
use hearth::gpu::kernels::{
    rope::Heads, Argmax, Attention, Embedding, Linear, LinearBindings, LinearSpec, LinearTokens,
    RmsNorm, Rope, SiluMul, Softmax,
};
use hearth::gpu::params::Step;
use hearth::gpu::{GpuContext, GpuMatrix};
use hearth::model::RopeStyle;
use hearth::reference;

/// Linear kernels: sums of ~130 products of values in [-1, 1] (magnitude ~10), f32.
const LINEAR_TOL: f32 = 1e-4;
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

fn f32_tensor(name: &str, shape: &[usize], values: &[f32]) -> Tensor {
    Tensor {
        name: name.into(),
        dtype: DType::F32,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn buffer(ctx: &GpuContext, label: &str, values: &[f32]) -> wgpu::Buffer {
    ctx.storage_init(label, bytemuck::cast_slice(values))
}

fn step(ctx: &GpuContext, pos: usize, n_tokens: usize) -> wgpu::Buffer {
    let s = Step {
        pos: pos as u32,
        n_tokens: n_tokens as u32,
        ..Default::default()
    };
    ctx.uniform_init("step", bytemuck::bytes_of(&s))
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

/// A [rows, cols] weight uploaded as fp16 with at most `rows_per_shard` rows per binding,
/// and its fp16-rounded values for the reference.
fn weight(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    rows_per_shard: usize,
    seed: u64,
) -> (GpuMatrix, Vec<f32>) {
    let t = f32_tensor("w", &[rows, cols], &random_vec(rows * cols, seed));
    let narrow = ctx.with_max_binding((rows_per_shard * cols.div_ceil(8) * 16) as u64);
    let m = GpuMatrix::upload(&narrow, &t).unwrap();
    (m, quant::to_f16_rounded_f32(&t).unwrap())
}

#[test]
fn uniform_structs_match_wgsl() {
    let mut checked = 0;
    for (file, source) in hearth::gpu::kernels::SHADERS {
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
    // Step: linear, rmsnorm, rope, attention, silu_mul; Shard: linear, embedding.
    assert_eq!(checked, 7, "uniform structs found in the shaders");
}

#[test]
fn weights_split_into_ragged_shards() {
    let ctx = gpu_context();
    // 40 rows fit a binding: shards of 32 (whole row blocks); the last is padded.
    let (rows, cols) = (37, 132);
    let (m, want) = weight(&ctx, rows, cols, 40, 1);
    let shards: Vec<(usize, usize, usize)> = m
        .shards
        .iter()
        .map(|s| (s.row_start, s.n_rows, s.padded_rows))
        .collect();
    assert_eq!(shards, vec![(0, 32, 32), (32, 5, 32)]);
    // Blocked layout: 8 columns per 16-byte chunk (zero-padded), chunk c of row i of
    // 32-row block b at (b * col_chunks + c) * 32 + i.
    let chunks = cols.div_ceil(8);
    let mut got = Vec::new();
    for s in &m.shards {
        let bytes =
            block(ctx.read_buffer(&s.buffer, 0, (s.padded_rows * chunks * 16) as u64)).unwrap();
        let halves: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        for r in 0..s.padded_rows {
            let mut row = Vec::new();
            for c in 0..chunks {
                let at = ((r / 32 * chunks + c) * 32 + r % 32) * 8;
                row.extend_from_slice(&halves[at..at + 8]);
            }
            assert!(row[cols..].iter().all(|&v| v == 0.0), "column padding");
            if r < s.n_rows {
                got.extend_from_slice(&row[..cols]);
            } else {
                assert!(row.iter().all(|&v| v == 0.0), "row padding");
            }
        }
    }
    assert_eq!(got, want);

    for bad in [[2, 3], [2, 130]] {
        let t = f32_tensor("bad", &bad, &vec![0.0; bad[0] * bad[1]]);
        assert!(matches!(
            GpuMatrix::upload(&ctx, &t),
            Err(hearth::Error::InvalidConfig(_))
        ));
    }
}

/// Runs one linear kernel variant over a 2-shard [37, k] weight for a chunk of
/// `n_tokens` and checks it against the reference.
fn check_linear(tokens: LinearTokens, k: usize, bias: bool, residual: bool, n_tokens: usize) {
    let ctx = gpu_context();
    let rows = 37;
    let (w, w_ref) = weight(&ctx, rows, k, 32, 2);
    assert_eq!(w.shards.len(), 2);
    let x = random_vec(n_tokens * k, 3);
    let bias_v = random_vec(rows, 5);
    let y0 = random_vec(n_tokens * rows, 6);
    let spec = LinearSpec {
        k,
        n_out: rows,
        residual,
        bias,
    };
    // Reference: the rows the kernel computes; `Last` writes the last token to row 0.
    let first = match tokens {
        LinearTokens::Last => n_tokens - 1,
        LinearTokens::All { .. } => 0,
    };
    let mut want = Vec::new();
    for (t, xr) in x.chunks_exact(k).skip(first).enumerate() {
        let mut y = reference::matmul(xr, &w_ref, k);
        for (r, v) in y.iter_mut().enumerate() {
            if bias {
                *v += bias_v[r];
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
    let kernel = block(Linear::new(&ctx, spec, tokens)).unwrap();
    let groups: Vec<_> = w
        .shards
        .iter()
        .map(|s| {
            let b = LinearBindings {
                step: &step_buf,
                shard: &s.params,
                x: &x_buf,
                w: &s.buffer,
                y: &y_buf,
                bias: bias.then_some(&bias_buf),
            };
            kernel.bind(&ctx, &b).unwrap()
        })
        .collect();
    run(&ctx, |pass| {
        for (s, g) in w.shards.iter().zip(&groups) {
            kernel.dispatch(pass, g, s.n_rows, n_tokens);
        }
    });
    let got = block(ctx.read_f32(&y_buf, want.len())).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(
        diff <= LINEAR_TOL,
        "{tokens:?} k={k} bias={bias} residual={residual} n={n_tokens}: max diff {diff}"
    );
}

#[test]
fn linear_variants_match_reference() {
    let one = LinearTokens::All { per_invocation: 1 };
    let eight = LinearTokens::All { per_invocation: 8 };
    // k = 132 ends with half a column chunk; 136 with a whole one.
    for n in [5, 13] {
        for k in [132, 136] {
            check_linear(one, k, false, false, n);
            check_linear(one, k, true, true, n);
            check_linear(eight, k, false, false, n);
            check_linear(eight, k, true, false, n);
            check_linear(eight, k, false, true, n);
            check_linear(LinearTokens::Last, k, true, true, n);
        }
    }
    check_linear(LinearTokens::Last, 132, false, false, 1);
    check_linear(eight, 132, true, true, 1);
    let ctx = gpu_context();
    let spec = LinearSpec {
        k: 132,
        n_out: 37,
        residual: false,
        bias: false,
    };
    assert!(block(Linear::new(
        &ctx,
        spec,
        LinearTokens::All { per_invocation: 4 }
    ))
    .is_err());
}

#[test]
fn silu_mul_matches_reference() {
    let ctx = gpu_context();
    let (n, ff) = (5, 130);
    let gu: Vec<f32> = random_vec(n * 2 * ff, 16).iter().map(|v| v * 8.0).collect();
    let want: Vec<f32> = gu
        .chunks_exact(2 * ff)
        .flat_map(|r| reference::silu_mul(&r[..ff], &r[ff..]))
        .collect();
    let kernel = block(SiluMul::new(&ctx, ff)).unwrap();
    let (step_buf, gu_buf, out) = (
        step(&ctx, 0, n),
        buffer(&ctx, "gate|up", &gu),
        ctx.storage("out", (n * ff * 4) as u64),
    );
    let g = kernel.bind(&ctx, &step_buf, &gu_buf, &out).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g, n));
    let got = block(ctx.read_f32(&out, n * ff)).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= SILU_MUL_TOL, "max diff {diff}");
}

#[test]
fn rmsnorm_matches_reference() {
    let ctx = gpu_context();
    let (n, dim) = (5, 130);
    let x = random_vec(n * dim, 7);
    let w = random_vec(dim, 8);
    let want: Vec<f32> = x
        .chunks_exact(dim)
        .flat_map(|r| reference::rmsnorm(r, &w, EPS))
        .collect();
    let kernel = block(RmsNorm::new(&ctx, dim, EPS)).unwrap();
    let (xb, wb, yb) = (
        buffer(&ctx, "x", &x),
        buffer(&ctx, "w", &w),
        ctx.storage("y", (n * dim * 4) as u64),
    );
    let step_buf = step(&ctx, 0, n);
    let g = kernel.bind(&ctx, &step_buf, &xb, &wb, &yb).unwrap();
    run(&ctx, |pass| kernel.dispatch(pass, &g, n));
    let got = block(ctx.read_f32(&yb, n * dim)).unwrap();
    assert!(
        max_abs_diff(&got, &want) <= RMSNORM_TOL,
        "diff {}",
        max_abs_diff(&got, &want)
    );
}

const HEADS: Heads = Heads {
    n_head: 9,
    n_head_kv: 3,
    head_dim: 64,
};

#[test]
fn rope_and_kv_store_match_reference_in_both_styles() {
    let ctx = gpu_context();
    let (n, pos, n_ctx, theta) = (5, 3, 16, 10000.0f32);
    let (q_dim, kv_dim) = (
        HEADS.n_head * HEADS.head_dim,
        HEADS.n_head_kv * HEADS.head_dim,
    );
    let qkv_dim = q_dim + 2 * kv_dim;
    for style in [RopeStyle::Pairwise, RopeStyle::RotateHalf] {
        let qkv = random_vec(n * qkv_dim, 9);
        let table: Vec<f32> = reference::rope_table(theta, HEADS.head_dim, n_ctx)
            .into_iter()
            .flatten()
            .collect();
        let kernel = block(Rope::new(&ctx, HEADS, style)).unwrap();
        let qkv_buf = buffer(&ctx, "qkv", &qkv);
        let table_buf = buffer(&ctx, "rope table", &table);
        let k_cache = ctx.storage("k", (n_ctx * kv_dim * 4) as u64);
        let v_cache = ctx.storage("v", (n_ctx * kv_dim * 4) as u64);
        let step_buf = step(&ctx, pos, n);
        let g = kernel
            .bind(&ctx, &step_buf, &qkv_buf, &table_buf, &k_cache, &v_cache)
            .unwrap();
        run(&ctx, |pass| kernel.dispatch(pass, &g, n));
        let got_qkv = block(ctx.read_f32(&qkv_buf, n * qkv_dim)).unwrap();
        let got_k = block(ctx.read_f32(&k_cache, n_ctx * kv_dim)).unwrap();
        let got_v = block(ctx.read_f32(&v_cache, n_ctx * kv_dim)).unwrap();
        for t in 0..n {
            let row = &qkv[t * qkv_dim..(t + 1) * qkv_dim];
            let mut q = row[..q_dim].to_vec();
            let mut k = row[q_dim..q_dim + kv_dim].to_vec();
            reference::rope(&mut q, HEADS.head_dim, pos + t, theta, style);
            reference::rope(&mut k, HEADS.head_dim, pos + t, theta, style);
            let p = pos + t;
            let dq = max_abs_diff(&got_qkv[t * qkv_dim..t * qkv_dim + q_dim], &q);
            let dk = max_abs_diff(&got_k[p * kv_dim..(p + 1) * kv_dim], &k);
            let dv = max_abs_diff(&got_v[p * kv_dim..(p + 1) * kv_dim], &row[q_dim + kv_dim..]);
            assert!(
                dq <= ROPE_TOL && dk <= ROPE_TOL && dv == 0.0,
                "{style:?} t={t}: q {dq} k {dk} v {dv}"
            );
        }
        // Rows outside pos..pos+n are untouched.
        assert!(got_k[..pos * kv_dim].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn attention_matches_reference_with_partly_filled_cache() {
    let ctx = gpu_context();
    let (q_dim, kv_dim) = (
        HEADS.n_head * HEADS.head_dim,
        HEADS.n_head_kv * HEADS.head_dim,
    );
    let qkv_dim = q_dim + 2 * kv_dim;
    let n_ctx = 100;
    let kernel = block(Attention::new(&ctx, HEADS)).unwrap();
    // (pos, n): one query at 0; a prefill chunk crossing the 64-key block; decode at 70.
    for (pos, n) in [(0, 1), (60, 5), (70, 1), (0, 7)] {
        let qkv = random_vec(n * qkv_dim, 10 + pos as u64);
        // Cache rows past pos + n hold garbage that must be ignored.
        let k = random_vec(n_ctx * kv_dim, 11);
        let v = random_vec(n_ctx * kv_dim, 12);
        let q: Vec<f32> = qkv
            .chunks_exact(qkv_dim)
            .flat_map(|r| r[..q_dim].to_vec())
            .collect();
        let want = reference::attention(
            &q,
            &k,
            &v,
            pos,
            reference::Heads {
                n_head: HEADS.n_head,
                n_head_kv: HEADS.n_head_kv,
                head_dim: HEADS.head_dim,
            },
        );
        let (qkv_buf, k_buf, v_buf) = (
            buffer(&ctx, "qkv", &qkv),
            buffer(&ctx, "k", &k),
            buffer(&ctx, "v", &v),
        );
        let out = ctx.storage("out", (n * q_dim * 4) as u64);
        let step_buf = step(&ctx, pos, n);
        let g = kernel
            .bind(&ctx, &step_buf, &qkv_buf, &k_buf, &v_buf, &out)
            .unwrap();
        run(&ctx, |pass| kernel.dispatch(pass, &g, n));
        let got = block(ctx.read_f32(&out, n * q_dim)).unwrap();
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= ATTENTION_TOL, "pos {pos} n {n}: max diff {diff}");
    }
}

#[test]
fn embedding_gathers_from_sharded_table() {
    let ctx = gpu_context();
    let (vocab, dim) = (80, 132);
    let (table, table_ref) = weight(&ctx, vocab, dim, 32, 13);
    assert_eq!(table.shards.len(), 3);
    let tokens: [u32; 6] = [0, 79, 32, 31, 41, 70];
    let kernel = block(Embedding::new(&ctx, dim)).unwrap();
    let tok_buf = ctx.storage_init("tokens", bytemuck::cast_slice(&tokens));
    let x = ctx.storage("x", (tokens.len() * dim * 4) as u64);
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
        .collect();
    assert_eq!(got, want);
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

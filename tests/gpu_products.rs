//! Small random models through the whole GPU forward pass against the CPU reference, in
//! the shapes that choose how the stacked products run: paired (rope and the KV store in
//! the Q|K|V epilogue, SwiGLU in the gate|up epilogue, each RMSNorm in the prologue of the
//! product after it when decoding in the GPU shape: five dispatches per layer, seven in the
//! CPU adapters' shape, where the norms stay dispatches of their own) and
//! unpaired (head_dim not a multiple of 32, gate and up of different formats: separate
//! rope and silu·mul kernels).

mod common;

use std::collections::HashMap;

use common::{gpu_context, infos, max_abs_diff, random_tensor, random_vec};
use hearth::backend::gpu::{ForwardOutput, ForwardResult, GpuModel, GpuModelBuilder};
use hearth::formats::{DType, Tensor};
use hearth::gpu::formats::gpu_values;
use hearth::gpu::KernelShape;
use hearth::model::arch::FfnActivation;
use hearth::model::rope::RopeScaling;
use hearth::model::{Arch, ModelConfig, RopeStyle};
use hearth::reference::ReferenceModel;

/// Logits of order 1–10 after two layers; only summation order differs.
const TOL: f32 = 2e-3;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn config(head_dim: usize, rope_style: RopeStyle, qkv_bias: bool) -> ModelConfig {
    ModelConfig {
        arch: if qkv_bias { Arch::Qwen2 } else { Arch::Llama },
        name: None,
        n_vocab: 77,
        n_embd: 96,
        n_layer: 2,
        n_head: 6,
        n_head_kv: 2,
        head_dim,
        n_ff: 160,
        n_ctx_train: 64,
        rope_theta: 10000.0,
        rope_style,
        norm_eps: 1e-5,
        tied_embeddings: false,
        qkv_bias,
        qk_norm: false,
        ffn_activation: FfnActivation::Silu,
        post_norms: false,
        embedding_scale: false,
        sliding_window: 0,
        global_every: 0,
        rope_theta_local: 10000.0,
        rope_scaling: RopeScaling::None,
        layer_norm: false,
        learned_positions: false,
        ffn_gated: true,
        output_biases: false,
    }
}

/// Every tensor of `c`: Q8_0 matrices, except V and the output head (F16: a Q|K|V of two
/// formats) and the FFN up projections (`up`).
fn tensors(c: &ModelConfig, up: DType) -> Vec<Tensor> {
    let mut seed = 100;
    let mut out = Vec::new();
    let mut add = |name: String, dtype: DType, rows: usize, cols: usize| {
        seed += 1;
        let mut t = random_tensor(dtype, rows, cols, seed);
        if rows == 1 {
            // Norm weights and biases are vectors of values near 1 (norms) or small.
            let v = random_vec(cols, seed);
            t.data = v
                .iter()
                .flat_map(|x| (1.0 + 0.2 * x).to_le_bytes())
                .collect();
            t.shape = vec![cols];
        }
        t.name = name;
        out.push(t);
    };
    let (d, q, kv, ff) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff);
    add("token_embd.weight".into(), DType::Q8_0, c.n_vocab, d);
    if c.learned_positions {
        add("position_embd.weight".into(), DType::Q8_0, c.n_ctx_train, d);
    }
    for l in 0..c.n_layer {
        let n = |r: &str| format!("blk.{l}.{r}");
        add(n("attn_norm.weight"), DType::F32, 1, d);
        if c.layer_norm {
            add(n("attn_norm.bias"), DType::F32, 1, d);
            add(n("ffn_norm.bias"), DType::F32, 1, d);
        }
        if c.output_biases {
            add(n("attn_output.bias"), DType::F32, 1, d);
            add(n("ffn_up.bias"), DType::F32, 1, ff);
            add(n("ffn_down.bias"), DType::F32, 1, d);
        }
        add(n("attn_q.weight"), DType::Q8_0, q, d);
        add(n("attn_k.weight"), DType::Q8_0, kv, d);
        add(n("attn_v.weight"), DType::F16, kv, d);
        if c.qk_norm {
            add(n("attn_q_norm.weight"), DType::F32, 1, c.head_dim);
            add(n("attn_k_norm.weight"), DType::F32, 1, c.head_dim);
        }
        if c.qkv_bias {
            add(n("attn_q.bias"), DType::F32, 1, q);
            add(n("attn_k.bias"), DType::F32, 1, kv);
            add(n("attn_v.bias"), DType::F32, 1, kv);
        }
        add(n("attn_output.weight"), DType::Q8_0, d, q);
        add(n("ffn_norm.weight"), DType::F32, 1, d);
        if c.ffn_gated {
            add(n("ffn_gate.weight"), DType::Q8_0, ff, d);
        }
        add(n("ffn_up.weight"), up, ff, d);
        add(n("ffn_down.weight"), DType::Q8_0, d, ff);
        if c.post_norms {
            add(n("post_attention_norm.weight"), DType::F32, 1, d);
            add(n("post_ffw_norm.weight"), DType::F32, 1, d);
        }
    }
    add("output_norm.weight".into(), DType::F32, 1, d);
    if c.layer_norm {
        add("output_norm.bias".into(), DType::F32, 1, d);
    }
    if !c.tied_embeddings {
        add("output.weight".into(), DType::F16, c.n_vocab, d);
    }
    out
}

fn gpu_model(ctx: &hearth::gpu::GpuContext, c: &ModelConfig, ts: &[Tensor]) -> GpuModel {
    let mut b = GpuModelBuilder::new(ctx, c, &infos(ts), 32).expect("builder");
    for t in ts {
        b.add_tensor(t.clone()).expect("upload tensor");
    }
    block(b.finish()).expect("finish model")
}

/// Prefill of 10 tokens (all logits) and one decode step against the reference, in both
/// kernel shapes, and the dispatches of a decode step (`layer_dispatches` per layer in the
/// GPU shape, where RMSNorms are applied in the prologue of the products after them).
fn check(c: ModelConfig, up: DType, layer_dispatches: usize) {
    let ts = tensors(&c, up);
    let weights: HashMap<String, Vec<f32>> = ts
        .iter()
        .map(|t| (t.name.clone(), gpu_values(t).expect("values")))
        .collect();
    let mut cpu = ReferenceModel::new(c.clone(), weights).expect("reference model");
    let tokens: Vec<u32> = (0..11).map(|i| (i * 7 + 3) % c.n_vocab as u32).collect();
    let want = cpu.forward(&tokens, 0).expect("reference forward");
    for shape in [KernelShape::Lanes, KernelShape::SplitK] {
        let ctx = gpu_context().with_kernel_shape(shape);
        let mut gpu = gpu_model(&ctx, &c, &ts);
        // Embedding (and positions), the layers, the head (after a final norm of its own
        // where the norm is a LayerNorm, or where the CPU shape keeps RMSNorms as
        // dispatches: two more per layer) and the argmax's two passes.
        let cost = gpu.decode_cost();
        let embedding = 1 + usize::from(c.learned_positions);
        let rms_dispatches = usize::from(shape == KernelShape::Lanes && !c.layer_norm);
        assert_eq!(
            cost.dispatches,
            embedding
                + c.n_layer * (layer_dispatches + 2 * rms_dispatches)
                + usize::from(c.layer_norm)
                + rms_dispatches
                + 3,
            "{shape:?}"
        );
        let all = match block(gpu.forward(&tokens[..10], 0, ForwardOutput::AllLogits)) {
            Ok(ForwardResult::AllLogits(l)) => l,
            other => panic!("unexpected {other:?}"),
        };
        for (t, row) in all.chunks_exact(c.n_vocab).enumerate() {
            let diff = max_abs_diff(row, &want[t]);
            assert!(diff <= TOL, "{shape:?} prefill token {t}: max diff {diff}");
        }
        let last = match block(gpu.forward(&tokens[10..], 10, ForwardOutput::LastLogits)) {
            Ok(ForwardResult::LastLogits(l)) => l,
            other => panic!("unexpected {other:?}"),
        };
        let diff = max_abs_diff(&last, &want[10]);
        assert!(diff <= TOL, "{shape:?} decode: max diff {diff}");
    }
}

#[test]
fn paired_products_match_reference() {
    // Per decoded token and layer: Q|K (Q8_0) and V (F16), normed in their prologue, with
    // rope + KV store; attention, output, gate|up (normed) with SwiGLU, down.
    check(config(32, RopeStyle::Pairwise, false), DType::Q8_0, 6);
    check(config(32, RopeStyle::RotateHalf, true), DType::Q8_0, 6);
}

#[test]
fn unpaired_products_match_reference() {
    // head_dim 16: a separate rope kernel; gate Q8_0 and up F16: two products and a
    // separate silu·mul kernel.
    check(config(16, RopeStyle::Pairwise, true), DType::F16, 9);
}

#[test]
fn qk_norm_heads_match_reference() {
    // Qwen3: Q|K|V written as rows (head_dim 32 would pair), each head normed, rotated and
    // stored by the rope kernel: Q|K and V (normed), rope, attention, output, gate|up
    // (normed), down.
    let c = ModelConfig {
        arch: Arch::Qwen3,
        qk_norm: true,
        ..config(32, RopeStyle::RotateHalf, false)
    };
    check(c, DType::Q8_0, 7);
}

#[test]
fn gemma3_layers_match_reference() {
    // Gemma 3's parts: head norms, the √dim embedding scale, GeGLU, post-norms added into
    // x, and local layers (window 4, their own rope base) before every other global one —
    // 11 tokens cross the window. Per layer: Q|K and V (normed), rope, attention, output,
    // post-norm, gate|up (normed), down, post-norm.
    let c = ModelConfig {
        arch: Arch::Gemma3,
        qk_norm: true,
        ffn_activation: FfnActivation::GeluTanh,
        post_norms: true,
        embedding_scale: true,
        sliding_window: 4,
        global_every: 2,
        rope_theta: 1_000_000.0,
        rope_theta_local: 10_000.0,
        ..config(32, RopeStyle::RotateHalf, false)
    };
    check(c, DType::Q8_0, 9);
}

#[test]
fn gpt2_layers_match_reference() {
    // GPT-2's parts: a Q8_0 position embedding added to the tokens' (its own dispatch), no
    // rope, LayerNorms with biases, biases on Q|K|V, the output and both FFN products, an
    // ungated GELU FFN, the head tied to the embedding. Per layer (LayerNorms stay
    // dispatches of their own): norm, Q|K (Q8_0) and V (F16) with bias, the identity rope
    // and the KV store, attention, output + bias, norm, up + bias + GELU, down + bias.
    let c = ModelConfig {
        arch: Arch::Gpt2,
        n_head_kv: 6,
        qkv_bias: true,
        ffn_activation: FfnActivation::GeluTanh,
        tied_embeddings: true,
        layer_norm: true,
        learned_positions: true,
        ffn_gated: false,
        output_biases: true,
        ..config(32, RopeStyle::RotateHalf, true)
    };
    check(c, DType::Q8_0, 8);
}

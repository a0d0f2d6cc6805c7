//! The CPU backend against the CPU reference on small random models (every weight format
//! the GPU holds), and against llama.cpp's fixtures on the real models.

mod common;
mod model_support;

use std::collections::HashMap;

use common::{infos, max_abs_diff, random_tensor, random_vec, WEIGHT_DTYPES};
use hearth::backend::cpu::{check_fits, memory_needed, Activations, CpuModelBuilder};
use hearth::backend::Backend;
use hearth::formats::gguf::read_gguf_header;
use hearth::formats::{quant, DType, Tensor};
use hearth::model::arch::FfnActivation;
use hearth::model::forward::{ForwardOutput, ForwardResult};
use hearth::model::rope::RopeScaling;
use hearth::model::{Arch, ModelConfig, RopeStyle};
use hearth::reference::ReferenceModel;
use hearth::Error;
use model_support::{
    check_chat_greedy, check_raw_greedy, load_engine_on, RealModel, GEMMA3, QWEN_05B, SMOLLM2,
};

/// The same f32 arithmetic as the reference, in another order (threads, blocks).
const TOL: f32 = 1e-3;

fn config(n_embd: usize, qkv_bias: bool) -> ModelConfig {
    ModelConfig {
        arch: if qkv_bias { Arch::Qwen2 } else { Arch::Llama },
        name: None,
        n_vocab: 77,
        n_embd,
        n_layer: 2,
        n_head: 4,
        n_head_kv: 2,
        head_dim: n_embd / 4,
        n_ff: 2 * n_embd,
        n_ctx_train: 64,
        rope_theta: 10000.0,
        rope_style: if qkv_bias {
            RopeStyle::RotateHalf
        } else {
            RopeStyle::Pairwise
        },
        norm_eps: 1e-5,
        tied_embeddings: !qkv_bias,
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

/// Every tensor of `c`, matrices in `dtype`.
fn tensors(c: &ModelConfig, dtype: DType) -> Vec<Tensor> {
    let mut seed = 500;
    c.tensors()
        .into_iter()
        .map(|spec| {
            seed += 1;
            match spec.shape.as_slice() {
                [rows, cols] => {
                    let mut t = random_tensor(dtype, *rows, *cols, seed);
                    t.name = spec.name;
                    t
                }
                shape => {
                    let v = random_vec(shape.iter().product(), seed);
                    Tensor {
                        name: spec.name,
                        dtype: DType::F32,
                        shape: shape.to_vec(),
                        data: v
                            .iter()
                            .flat_map(|x| (1.0 + 0.2 * x).to_le_bytes())
                            .collect(),
                        piece: None,
                    }
                }
            }
        })
        .collect()
}

/// Decoding with 16-bit activations, relative to the largest logit: each activation is
/// rounded to 1/65534 of its 32-value block's range (the integer dot itself is exact: its
/// unit tests).
const INT16_TOL: f32 = 3e-4;

#[test]
fn cpu_model_matches_reference_in_every_format() {
    for activations in [Activations::F32, Activations::Int16] {
        matches_reference_in_every_format(activations);
    }
}

fn matches_reference_in_every_format(activations: Activations) {
    for dtype in WEIGHT_DTYPES {
        let n_embd = match dtype {
            DType::Q4_K | DType::Q5_K | DType::Q6_K => 256,
            _ => 64,
        };
        for bias in [false, true] {
            let c = config(n_embd, bias);
            let ts = tensors(&c, dtype);
            let weights: HashMap<String, Vec<f32>> = ts
                .iter()
                .map(|t| (t.name.clone(), quant::dequantize_f32(t).expect("values")))
                .collect();
            let mut cpu_ref = ReferenceModel::new(c.clone(), weights).expect("reference");
            let mut b = CpuModelBuilder::new(&c, &infos(&ts), 32, activations).expect("builder");
            for t in ts {
                b.add_tensor(t).expect("tensor");
            }
            let mut model = b.finish().expect("model");
            let tokens: Vec<u32> = (0..9).map(|i| (i * 5 + 2) % c.n_vocab as u32).collect();
            let want = cpu_ref.forward(&tokens, 0).expect("reference forward");
            let all = match model.forward(&tokens[..8], 0, ForwardOutput::AllLogits) {
                Ok(ForwardResult::AllLogits(l)) => l,
                other => panic!("unexpected {other:?}"),
            };
            for (t, row) in all.chunks_exact(c.n_vocab).enumerate() {
                let diff = max_abs_diff(row, &want[t]);
                assert!(
                    diff <= TOL,
                    "{dtype:?} bias={bias} token {t}: max diff {diff}"
                );
            }
            let last = match model.forward(&tokens[8..], 8, ForwardOutput::LastLogits) {
                Ok(ForwardResult::LastLogits(l)) => l,
                other => panic!("unexpected {other:?}"),
            };
            // A prompt's tokens are computed in f32 in both modes; one token with int16
            // activations where the format has an integer dot.
            let largest = want[8].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let tol = if activations == Activations::Int16 && int16_dot(dtype) {
                TOL.max(INT16_TOL * largest)
            } else {
                TOL
            };
            let diff = max_abs_diff(&last, &want[8]);
            assert!(
                diff <= tol,
                "{dtype:?} {activations:?} bias={bias} decode: max diff {diff} (largest logit {largest})"
            );
        }
    }
}

/// Whether decoding with `Activations::Int16` takes the integer dot for `dtype`.
fn int16_dot(dtype: DType) -> bool {
    matches!(dtype, DType::Q4_0 | DType::Q4_1 | DType::Q8_0)
}

/// A real model on the CPU backend: llama.cpp's greedy continuations (chat and raw
/// prompts) under the fixture's near-tie rule.
fn real_model_greedy(model: &RealModel, activations: Activations) {
    let mut engine = load_engine_on(&model.path(), Some(1024), Backend::Cpu(activations));
    assert_eq!(engine.info().backend.kind, "cpu");
    let kernels = engine.info().backend.kernels.clone();
    let named = match activations {
        Activations::Int16 => "int16 activations",
        Activations::F32 => "f32 activations",
    };
    assert!(kernels.starts_with(named), "{kernels}");
    check_chat_greedy(model, &mut engine);
    check_raw_greedy(model, &mut engine);
}

#[test]
fn smollm2_on_cpu_with_f32_activations_matches_llama_cpp_greedy() {
    real_model_greedy(&SMOLLM2, Activations::F32);
}

/// With 16-bit activations (the default) Qwen's Q8_0 matrices take the integer dot when
/// decoding, its K-quant and Q5_0 matrices the f32 path.
#[test]
fn qwen_on_cpu_with_int16_activations_matches_llama_cpp_greedy() {
    real_model_greedy(&QWEN_05B, Activations::Int16);
}

#[test]
fn gemma3_on_cpu_matches_llama_cpp_greedy() {
    // Its Q8_0 embedding is also its LM head: the integer dot covers the largest product.
    real_model_greedy(&GEMMA3, Activations::Int16);
}

#[test]
fn qwen_on_cpu_with_f32_activations_matches_llama_cpp_greedy() {
    real_model_greedy(&QWEN_05B, Activations::F32);
}

/// With 16-bit activations (the default) every SmolLM2 matrix (Q4_1 or Q8_0) takes the
/// integer dot when decoding.
#[test]
fn smollm2_on_cpu_with_int16_activations_matches_llama_cpp_greedy() {
    real_model_greedy(&SMOLLM2, Activations::Int16);
}

/// wasm32 addresses 4 GiB: what a model needs on the CPU backend (weights as stored, the
/// cache at the context length, working room) is known from the header, so a model or a
/// context that cannot fit is refused before any weight arrives.
#[test]
fn memory_needed_is_known_from_the_header_and_bounded_by_4_gib() {
    const GIB: u64 = 1 << 30;
    const WORKING: u64 = 32 << 20;
    for model in [&SMOLLM2, &QWEN_05B] {
        let header = read_gguf_header(&model.path()).expect("header");
        let config = ModelConfig::from_gguf(&header.metadata, &header.tensors).expect("config");
        let file = std::fs::metadata(model.path()).expect("file").len();
        let cache = |context: u64| 2 * config.n_layer as u64 * context * config.kv_dim() as u64 * 4;

        let needed = memory_needed(&config, &header.tensors, 4096);
        let weights = needed - cache(4096) - WORKING;
        assert!(
            weights <= file && weights > file / 10 * 9,
            "{}: weights {weights} of a {file}-byte file",
            model.file
        );
        check_fits(needed, 4 * GIB).expect("fits in 4 GiB");

        // A context whose cache alone passes 4 GiB does not.
        let long = (5 * GIB / cache(1)) as usize;
        let error = check_fits(memory_needed(&config, &header.tensors, long), 4 * GIB)
            .expect_err("5 GiB of cache");
        assert!(matches!(error, Error::DoesNotFit(_)), "{error}");
        assert!(error.to_string().contains("4 GiB"), "{error}");
    }
}

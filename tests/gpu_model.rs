//! The real model (SmolLM2-135M-Instruct Q4_1, kept as Q4_1 on the GPU) against the CPU
//! reference (the same dequantized weights: they differ only by summation order) and against llama.cpp's
//! logits in tests/fixtures (computed with f32 dequantized weights). Greedy generation
//! against the fixtures is tests/greedy_fixtures.rs.

mod common;

use std::collections::HashMap;
use std::io::Read;

use common::{gpu_context, infos, max_abs_diff, smollm2_path};
use hearth::backend::gpu::{ForwardOutput, ForwardResult, GpuModel, GpuModelBuilder};
use hearth::formats::gguf::{GgufEvent, GgufReader};
use hearth::formats::Tensor;
use hearth::gpu::formats::gpu_values;
use hearth::gpu::{GpuContext, KernelShape};
use hearth::model::ModelConfig;
use hearth::reference::{self, ReferenceModel};
use hearth::Error;

/// GPU vs CPU reference on the same weights: only summation order differs, through
/// 30 layers, on logits of magnitude ~20.
const GPU_VS_REFERENCE_TOL: f32 = 0.01;
/// GPU vs llama.cpp on the same dequantized weights (summation order only).
const GPU_VS_FIXTURE_TOL: f32 = 0.05;
/// The same logits through the prefill (8 tokens per invocation) and decode (one token)
/// kernels.
const PREFILL_VS_DECODE_TOL: f32 = 1e-3;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn fixture() -> serde_json::Value {
    let text = include_str!("fixtures/smollm2-135m-q4_1.json");
    serde_json::from_str(text).expect("fixture JSON")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("an array of ids")
        .iter()
        .map(|x| x.as_u64().expect("an id") as u32)
        .collect()
}

/// Streams the GGUF file through the push reader in 1 MiB chunks.
fn load_tensors() -> (ModelConfig, Vec<Tensor>) {
    let mut file = std::fs::File::open(smollm2_path()).expect("open model");
    let mut reader = GgufReader::new();
    let mut config = None;
    let mut tensors = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read model");
        if n == 0 {
            break;
        }
        for event in reader.feed(&buf[..n]).expect("parse GGUF") {
            match event {
                GgufEvent::Header(h) => {
                    config = Some(ModelConfig::from_gguf(&h.metadata, &h.tensors).expect("config"))
                }
                GgufEvent::Tensor(t) => tensors.push(t),
            }
        }
    }
    reader.finish().expect("complete file");
    (config.expect("a header"), tensors)
}

fn gpu_model(
    ctx: &GpuContext,
    config: &ModelConfig,
    tensors: &[Tensor],
    max_context: usize,
) -> GpuModel {
    let mut b = GpuModelBuilder::new(ctx, config, &infos(tensors), max_context).expect("builder");
    for t in tensors {
        b.add_tensor(t.clone()).expect("upload tensor");
    }
    block(b.finish()).expect("finish model")
}

fn reference_model(config: &ModelConfig, tensors: &[Tensor]) -> ReferenceModel {
    let weights: HashMap<String, Vec<f32>> = tensors
        .iter()
        .map(|t| (t.name.clone(), gpu_values(t).expect("dequantize")))
        .collect();
    ReferenceModel::new(config.clone(), weights).expect("reference model")
}

fn last_logits(m: &mut GpuModel, tokens: &[u32], pos: usize) -> Vec<f32> {
    match block(m.forward(tokens, pos, ForwardOutput::LastLogits)).expect("forward") {
        ForwardResult::LastLogits(l) => l,
        other => panic!("unexpected {other:?}"),
    }
}

fn argmax(m: &mut GpuModel, tokens: &[u32], pos: usize) -> u32 {
    argmax_as(m, tokens, pos, ForwardOutput::Argmax)
}

#[test]
fn smollm2_on_gpu_matches_reference_and_llama_cpp() {
    let ctx = gpu_context();
    let (config, tensors) = load_tensors();
    let mut gpu = gpu_model(&ctx, &config, &tensors, 512);
    let fx = fixture();
    let cases = fx["logits"].as_array().expect("logits cases");

    // Logits of the fixture prompts vs llama.cpp's top logits.
    for case in cases {
        let prompt = ids(&case["prompt_ids"]);
        let got = last_logits(&mut gpu, &prompt, 0);
        let top = case["top"].as_array().expect("top logits");
        for (rank, pair) in top.iter().enumerate() {
            let id = pair[0].as_u64().expect("id") as usize;
            let logit = pair[1].as_f64().expect("logit") as f32;
            assert!(
                (got[id] - logit).abs() <= GPU_VS_FIXTURE_TOL,
                "token {id} (rank {rank}): GPU {} vs llama.cpp {logit}",
                got[id]
            );
        }
        let top1 = top[0][0].as_u64().expect("id") as usize;
        assert_eq!(reference::argmax(&got), Some(top1), "top-1 vs llama.cpp");
    }

    // Every logit of the shortest prompt vs the CPU reference (slow: one prompt only).
    let short = cases
        .iter()
        .map(|c| ids(&c["prompt_ids"]))
        .min_by_key(Vec::len)
        .expect("a logits prompt");
    let got = last_logits(&mut gpu, &short, 0);
    let mut cpu = reference_model(&config, &tensors);
    let want = cpu.forward(&short, 0).expect("reference forward");
    let want = want.last().expect("logits");
    let diff = max_abs_diff(&got, want);
    assert!(
        diff <= GPU_VS_REFERENCE_TOL,
        "GPU vs reference: max diff {diff}"
    );
    assert_eq!(
        reference::argmax(&got),
        reference::argmax(want),
        "top-1 vs reference"
    );

    // The same last-token logits through the decode path (prefill all but the last token,
    // then one single-token step), through AllLogits, and as Argmax.
    let prompt = ids(&cases[0]["prompt_ids"]);
    let prefilled = last_logits(&mut gpu, &prompt, 0);
    let n = prompt.len();
    block(gpu.forward(&prompt[..n - 1], 0, ForwardOutput::Argmax)).expect("prefill");
    let decoded = last_logits(&mut gpu, &prompt[n - 1..], n - 1);
    let diff = max_abs_diff(&prefilled, &decoded);
    assert!(diff <= PREFILL_VS_DECODE_TOL, "prefill vs decode: {diff}");
    let all = match block(gpu.forward(&prompt, 0, ForwardOutput::AllLogits)).expect("forward") {
        ForwardResult::AllLogits(l) => l,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(all.len(), n * config.n_vocab);
    assert!(max_abs_diff(&all[(n - 1) * config.n_vocab..], &prefilled) <= PREFILL_VS_DECODE_TOL);
    let id = argmax(&mut gpu, &prompt, 0) as usize;
    assert_eq!(
        Some(id),
        reference::argmax(&prefilled),
        "Argmax vs LastLogits"
    );

    // The other kernel shape (split-K decode products, as on GPUs) on the same adapter
    // gives the same decode step.
    let other = match ctx.kernel_shape() {
        KernelShape::Lanes => KernelShape::SplitK,
        KernelShape::SplitK => KernelShape::Lanes,
    };
    drop(gpu);
    let mut gpu = gpu_model(&ctx.with_kernel_shape(other), &config, &tensors, 512);
    block(gpu.forward(&prompt[..n - 1], 0, ForwardOutput::Argmax)).expect("prefill");
    let decoded_other = last_logits(&mut gpu, &prompt[n - 1..], n - 1);
    let diff = max_abs_diff(&decoded_other, &decoded);
    assert!(
        diff <= PREFILL_VS_DECODE_TOL,
        "{other:?} vs {:?}: {diff}",
        ctx.kernel_shape()
    );
}

fn argmax_as(m: &mut GpuModel, tokens: &[u32], pos: usize, out: ForwardOutput) -> u32 {
    match block(m.forward(tokens, pos, out)).expect("forward") {
        ForwardResult::Argmax(id) => id,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn decoding_ahead_gives_the_same_tokens_and_gives_way_to_other_calls() {
    let ctx = gpu_context();
    let (config, tensors) = load_tensors();
    let mut gpu = gpu_model(&ctx, &config, &tensors, 256);
    let raw = &fixture()["raw"][0];
    let prompt = ids(&raw["prompt_ids"]);
    let steps = 16;
    let greedy = |gpu: &mut GpuModel, out| {
        let mut got = vec![argmax_as(gpu, &prompt, 0, out)];
        for i in 0..steps {
            let next = argmax_as(gpu, &got[i..=i], prompt.len() + i, out);
            got.push(next);
        }
        got
    };
    let plain = greedy(&mut gpu, ForwardOutput::Argmax);
    assert_eq!(gpu.steps_taken_ahead(), 0);
    let ahead = greedy(&mut gpu, ForwardOutput::ArgmaxAhead);
    assert_eq!(
        ahead, plain,
        "greedy tokens one step ahead vs one step at a time"
    );
    assert_eq!(
        gpu.steps_taken_ahead(),
        steps as u64,
        "every step after the prompt's"
    );
    // llama.cpp's first greedy tokens (no near-tie in the first steps of this prompt).
    assert_eq!(&plain[..4], &ids(&raw["greedy_ids"])[..4]);

    // A step queued ahead (fed plain[1] at n + 1) that the caller does not take: another
    // token there, then a new request from position 0, each against the same positions run
    // without anything queued ahead.
    let n = prompt.len();
    let mut seq = prompt.clone();
    seq.push(plain[0]);
    let other = (plain[1] + 1) % config.n_vocab as u32;
    let expected = {
        block(gpu.forward(&seq, 0, ForwardOutput::Argmax)).expect("prefill");
        last_logits(&mut gpu, &[other], n + 1)
    };
    argmax_as(&mut gpu, &prompt, 0, ForwardOutput::ArgmaxAhead);
    argmax_as(&mut gpu, &[plain[0]], n, ForwardOutput::ArgmaxAhead);
    let taken = gpu.steps_taken_ahead();
    let got = last_logits(&mut gpu, &[other], n + 1);
    assert_eq!(gpu.steps_taken_ahead(), taken);
    let diff = max_abs_diff(&got, &expected);
    assert!(
        diff <= PREFILL_VS_DECODE_TOL,
        "a token other than the argmax: {diff}"
    );
    argmax_as(&mut gpu, &[plain[1]], n + 1, ForwardOutput::ArgmaxAhead);
    let fresh = last_logits(&mut gpu, &seq[..n - 1], 0);
    let expected_fresh = {
        let mut m = gpu_model(&ctx, &config, &tensors, 256);
        last_logits(&mut m, &seq[..n - 1], 0)
    };
    assert!(max_abs_diff(&fresh, &expected_fresh) <= PREFILL_VS_DECODE_TOL);
    // The last position of the context: nothing can be queued after it.
    let mut short = gpu_model(&ctx, &config, &tensors, n + 1);
    let first = argmax_as(&mut short, &prompt, 0, ForwardOutput::ArgmaxAhead);
    assert_eq!(first, plain[0]);
    assert_eq!(
        argmax_as(&mut short, &[first], n, ForwardOutput::ArgmaxAhead),
        plain[1]
    );
}

#[test]
fn prefill_is_chunked_and_requests_are_checked() {
    let (config, tensors) = load_tensors();
    // Bindings of 16 rows of logits: chunks of 16 tokens (and the 30 MB embedding and
    // head in several shards), so that a prompt of a few chunks stays short on a CPU
    // adapter.
    let ctx = gpu_context().with_max_binding(16 * 4 * config.n_vocab as u64);
    let mut gpu = gpu_model(&ctx, &config, &tensors, 200);
    assert_eq!(gpu.max_context(), 200);
    assert_eq!(gpu.max_batch(), 16);

    // 37 tokens: three chunks. Their last logits must equal running 36 tokens then one,
    // and an AllLogits pass must agree with both.
    let base = ids(&fixture()["raw"][0]["prompt_ids"]);
    let tokens: Vec<u32> = base.iter().copied().cycle().take(37).collect();
    let whole = last_logits(&mut gpu, &tokens, 0);
    block(gpu.forward(&tokens[..36], 0, ForwardOutput::Argmax)).expect("prefill");
    let stepped = last_logits(&mut gpu, &tokens[36..], 36);
    assert!(max_abs_diff(&whole, &stepped) <= PREFILL_VS_DECODE_TOL);
    let all = match block(gpu.forward(&tokens, 0, ForwardOutput::AllLogits)).expect("forward") {
        ForwardResult::AllLogits(l) => l,
        other => panic!("unexpected {other:?}"),
    };
    assert!(max_abs_diff(&all[36 * config.n_vocab..], &whole) <= PREFILL_VS_DECODE_TOL);

    assert!(matches!(
        block(gpu.forward(&[1, 2], 199, ForwardOutput::Argmax)),
        Err(Error::ContextOverflow {
            needed: 201,
            limit: 200
        })
    ));
    assert!(matches!(
        block(gpu.forward(&[config.n_vocab as u32], 0, ForwardOutput::Argmax)),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        block(gpu.forward(&[], 0, ForwardOutput::Argmax)),
        Err(Error::InvalidRequest(_))
    ));

    // A builder missing a tensor names it; a wrong shape is rejected.
    let mut b = GpuModelBuilder::new(&ctx, &config, &infos(&tensors), 16).expect("builder");
    let norm = tensors
        .iter()
        .find(|t| t.name == "blk.0.attn_norm.weight")
        .expect("norm tensor");
    let mut wrong = norm.clone();
    wrong.shape = vec![norm.shape[0] / 2, 2];
    assert!(matches!(
        b.add_tensor(wrong),
        Err(Error::ShapeMismatch { .. })
    ));
    b.add_tensor(norm.clone()).expect("upload");
    match block(b.finish()) {
        Err(Error::MissingTensor(name)) => assert_eq!(name, "token_embd.weight"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a model without weights finished"),
    }

    // A context whose KV cache cannot be bound is refused with the numbers.
    let narrow = ctx.with_max_binding(1 << 20);
    assert!(matches!(
        GpuModelBuilder::new(&narrow, &config, &infos(&tensors), 100_000),
        Err(Error::DoesNotFit(_))
    ));
}

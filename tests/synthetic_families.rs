//! The families no registry here carries, checked against llama.cpp on small random-weight
//! models (`scripts/synthetic-models.py` wrote them and ran llama.cpp on them): each
//! family from its GGUF file and from its Hugging Face folder, on the GPU and on the CPU
//! backend — tokenization, last-token logits within 1e-3 of the largest logit, and greedy
//! continuations token for token under the fixtures' near-tie rule. Phi-3's files stack
//! Q|K|V and gate|up, and its rope is LongRoPE's (the long factors, for a context beyond
//! the original one).

mod model_support;

use std::path::PathBuf;

use hearth::backend::cpu::Activations;
use hearth::backend::Backend;
use hearth::chat::ChatMessage;
use hearth::engine::Engine;
use hearth::gpu::GpuContext;
use model_support::{check_greedy, greedy, ids, load_engine_on, repo_path};
use serde_json::Value;

/// Last-token logits may differ from llama.cpp's by this fraction of the largest one.
const RELATIVE_TOLERANCE: f32 = 1e-3;

fn family_dir(family: &str) -> PathBuf {
    repo_path(&format!("tests/fixtures/synthetic/{family}"))
}

fn reference(family: &str) -> Value {
    let path = family_dir(family).join("reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("reference JSON")
}

fn backends() -> Vec<(&'static str, Backend)> {
    let gpu = pollster::block_on(GpuContext::new())
        .unwrap_or_else(|e| panic!("no GPU adapter ({e}); install mesa-vulkan-drivers"));
    vec![
        ("gpu", Backend::Gpu(gpu)),
        ("cpu", Backend::Cpu(Activations::default())),
    ]
}

fn check_engine(label: &str, engine: &mut Engine, r: &Value) {
    assert_eq!(
        engine.info().config.n_vocab as u64,
        r["n_vocab"].as_u64().unwrap(),
        "{label}: vocabulary"
    );
    for t in r["tokenize"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let ours = engine.tokenizer().encode(text, false).unwrap();
        assert_eq!(ours, ids(&t["ids"]), "{label}: tokens of {text:?}");
    }
    // Special tokens parsed, with the whitespace Phi-3's take after them.
    if let Some(t) = r.get("tokenize_special") {
        let text = t["text"].as_str().unwrap();
        let ours = engine.tokenizer().encode(text, true).unwrap();
        assert_eq!(
            ours,
            ids(&t["ids"]),
            "{label}: tokens of {text:?}, specials parsed"
        );
    }
    // The first case's prompt is the first text, with BOS where the model adds it.
    let first = r["tokenize"][0]["text"].as_str().unwrap();
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(
        engine.prompt_tokens(first, false).unwrap(),
        ids(&cases[0]["prompt_ids"]),
        "{label}: prompt of {first:?}"
    );
    for (i, case) in cases.iter().enumerate() {
        let prompt = ids(&case["prompt_ids"]);
        let want: Vec<f32> = case["last_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let all = pollster::block_on(engine.logits_all(&prompt)).unwrap();
        let last = &all[(prompt.len() - 1) * want.len()..];
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = last
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= RELATIVE_TOLERANCE * scale,
            "{label} case {i}: logits differ by {worst} (largest logit {scale})"
        );
        let expected = ids(&case["greedy_ids"]);
        let ours = greedy(engine, prompt, expected.len());
        let same = check_greedy(&format!("{label} case {i}"), &ours, case);
        eprintln!("{label} case {i}: worst logit diff {worst:.2e}, {same} greedy steps identical");
    }
}

/// One family from both sources on both backends; the chat template renders the same from
/// the GGUF file and from tokenizer_config.json.
fn check_family(family: &str) {
    let r = reference(family);
    let conversation: Vec<ChatMessage> = serde_json::from_value(serde_json::json!([
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "The capital of France?"},
    ]))
    .unwrap();
    let mut rendered = Vec::new();
    for source in ["model.gguf", "hf"] {
        for (backend_name, backend) in backends() {
            let label = format!("{family} {source} {backend_name}");
            let mut engine = load_engine_on(&family_dir(family).join(source), Some(256), backend);
            check_engine(&label, &mut engine, &r);
            rendered.push(engine.render_chat(&conversation).unwrap());
        }
    }
    assert!(rendered.windows(2).all(|w| w[0] == w[1]), "{rendered:#?}");
    assert!(rendered[0].contains("The capital of France?"));
}

#[test]
fn qwen3_matches_llama_cpp_from_gguf_and_hf_on_gpu_and_cpu() {
    check_family("qwen3");
}

#[test]
fn gemma3_matches_llama_cpp_from_gguf_and_hf_on_gpu_and_cpu() {
    check_family("gemma3");
}

#[test]
fn llama3_matches_llama_cpp_from_gguf_and_hf_on_gpu_and_cpu() {
    check_family("llama3");
}

#[test]
fn phi3_matches_llama_cpp_from_gguf_and_hf_on_gpu_and_cpu() {
    check_family("phi3");
}

#[test]
fn gpt2_matches_llama_cpp_from_gguf_and_hf_on_gpu_and_cpu() {
    check_family("gpt2");
}

//! Tier 2: the real models on the GPU against llama.cpp's outputs: chat prompts byte- and
//! token-identical, greedy continuations token-identical under the fixture's near-tie rule,
//! last-token logits close. SmolLM2-135M-Instruct (GGUF Q4_1, kept as Q4_1 on the GPU),
//! Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M: Q4_K, Q5_0, Q6_K, Q8_0 kept as they are) and
//! Gemma 3 270M (base, Q4_K_M; raw prompts start with the BOS it adds).

mod model_support;

use hearth::chat::ChatMessage;
use model_support::*;

/// Last-token logits vs llama.cpp's top 20: the same dequantized weights, summation order
/// only (magnitudes ~20).
const LOGIT_TOLERANCE: f32 = 0.05;

fn chat_prompts_render_and_tokenize(model: &RealModel) {
    let fx = model.fixture();
    let engine = model.engine().lock().unwrap();
    for case in fx["chat"].as_array().unwrap() {
        let messages: Vec<ChatMessage> = serde_json::from_value(case["messages"].clone()).unwrap();
        let prompt = engine.render_chat(&messages).unwrap();
        assert_eq!(prompt, case["prompt"].as_str().unwrap());
        assert_eq!(
            engine.chat_tokens(&messages).unwrap(),
            ids(&case["prompt_ids"])
        );
    }
}

fn chat_greedy(model: &RealModel) {
    check_chat_greedy(model, &mut model.engine().lock().unwrap());
}

fn raw_greedy(model: &RealModel) {
    check_raw_greedy(model, &mut model.engine().lock().unwrap());
}

fn last_logits_match_top20(model: &RealModel) {
    let fx = model.fixture();
    let mut engine = model.engine().lock().unwrap();
    for case in fx["logits"].as_array().unwrap() {
        let prompt = ids(&case["prompt_ids"]);
        let n_vocab = engine.info().config.n_vocab;
        let logits = pollster::block_on(engine.logits_all(&prompt)).unwrap();
        let last = &logits[(prompt.len() - 1) * n_vocab..];
        for pair in case["top"].as_array().unwrap() {
            let id = pair[0].as_u64().unwrap() as usize;
            let want = pair[1].as_f64().unwrap() as f32;
            assert!(
                (last[id] - want).abs() < LOGIT_TOLERANCE,
                "token {id}: ours {} llama.cpp {want}",
                last[id]
            );
        }
    }
}

#[test]
fn smollm2_chat_prompts_render_and_tokenize_like_llama_cpp() {
    chat_prompts_render_and_tokenize(&SMOLLM2);
}

#[test]
fn smollm2_chat_greedy_matches_llama_cpp() {
    chat_greedy(&SMOLLM2);
}

#[test]
fn smollm2_raw_greedy_matches_llama_cpp() {
    raw_greedy(&SMOLLM2);
}

#[test]
fn smollm2_last_logits_match_llama_cpp_top20() {
    last_logits_match_top20(&SMOLLM2);
}

#[test]
fn qwen_tokenizes_like_llama_cpp() {
    // The fixture parses special tokens, as in a chat prompt.
    let fx = QWEN_05B.fixture();
    let engine = QWEN_05B.engine().lock().unwrap();
    for case in fx["tokenize"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            engine.prompt_tokens(text, true).unwrap(),
            ids(&case["ids"]),
            "{text:?}"
        );
    }
}

#[test]
fn qwen_chat_prompts_render_and_tokenize_like_llama_cpp() {
    chat_prompts_render_and_tokenize(&QWEN_05B);
}

#[test]
fn qwen_chat_greedy_matches_llama_cpp() {
    chat_greedy(&QWEN_05B);
}

#[test]
fn qwen_raw_greedy_matches_llama_cpp() {
    raw_greedy(&QWEN_05B);
}

#[test]
fn qwen_last_logits_match_llama_cpp_top20() {
    last_logits_match_top20(&QWEN_05B);
}

#[test]
fn gemma3_tokenizes_like_llama_cpp() {
    // The fixture's ids have no BOS (the model adds it to prompts, not to tokenizations).
    let fx = GEMMA3.fixture();
    let engine = GEMMA3.engine().lock().unwrap();
    for case in fx["tokenize"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ours = engine.tokenizer().encode(text, true).unwrap();
        assert_eq!(ours, ids(&case["ids"]), "{text:?}");
    }
}

#[test]
fn gemma3_raw_greedy_matches_llama_cpp() {
    raw_greedy(&GEMMA3);
}

#[test]
fn gemma3_last_logits_match_llama_cpp_top20() {
    last_logits_match_top20(&GEMMA3);
}

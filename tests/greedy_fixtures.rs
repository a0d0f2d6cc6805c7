//! Tier 2: the real model (SmolLM2-135M-Instruct, GGUF Q4_1) on the GPU against llama.cpp's
//! outputs: chat prompts byte- and token-identical, greedy continuations token-identical
//! under the fixture's near-tie rule.

mod model_support;

use hearth::chat::ChatMessage;
use model_support::*;

#[test]
fn chat_prompts_render_and_tokenize_like_llama_cpp() {
    let fx = fixture();
    let engine = engine().lock().unwrap();
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

#[test]
fn chat_greedy_matches_llama_cpp() {
    let fx = fixture();
    let mut engine = engine().lock().unwrap();
    for (i, case) in fx["chat"].as_array().unwrap().iter().enumerate() {
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(
            &mut engine,
            ids(&case["prompt_ids"]),
            want.len().min(GREEDY_COMPARE),
        );
        let compared = check_greedy(&format!("chat case {i}"), &ours, case);
        eprintln!("chat case {i}: {compared} steps identical");
    }
}

#[test]
fn raw_greedy_matches_llama_cpp() {
    let fx = fixture();
    let mut engine = engine().lock().unwrap();
    for (i, case) in fx["raw"].as_array().unwrap().iter().enumerate() {
        let prompt = ids(&case["prompt_ids"]);
        assert_eq!(
            engine
                .prompt_tokens(case["prompt"].as_str().unwrap(), false)
                .unwrap(),
            prompt,
            "raw case {i}: tokenization"
        );
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(&mut engine, prompt, want.len().min(GREEDY_COMPARE));
        let compared = check_greedy(&format!("raw case {i}"), &ours, case);
        eprintln!("raw case {i}: {compared} steps identical");
    }
}

#[test]
fn last_logits_match_llama_cpp_top20() {
    // Tolerance: llama.cpp used f32 weights, we use fp16-rounded ones.
    const LOGIT_TOLERANCE: f32 = 0.05;
    let fx = fixture();
    let mut engine = engine().lock().unwrap();
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

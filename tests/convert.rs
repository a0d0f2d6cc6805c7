//! `hearth convert` writes a Hugging Face folder with fp16 weights; loading that folder gives
//! the same greedy continuations as the GGUF file (rope layout and names converted back).

mod model_support;

use std::process::Command;

use model_support::*;

#[test]
fn converted_folder_gives_the_same_greedy_continuations() {
    let out = std::env::temp_dir().join(format!("hearth-convert-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "convert",
            model_path().to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .env("XDG_RUNTIME_DIR", "/tmp")
        .status()
        .expect("run hearth convert");
    assert!(status.success());
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let mut engine = load_engine(&out, Some(512));
    assert_eq!(engine.info().format, "safetensors");
    let fx = fixture();
    let cases = fx["chat"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fx["raw"].as_array().unwrap());
    for (i, case) in cases.enumerate() {
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(
            &mut engine,
            ids(&case["prompt_ids"]),
            want.len().min(GREEDY_COMPARE),
        );
        let compared = check_greedy(&format!("converted case {i}"), &ours, case);
        eprintln!("converted case {i}: {compared} steps identical");
    }
    // The folder's tokenizer and template reproduce the GGUF's chat prompt exactly.
    let case = &fx["chat"][0];
    let messages: Vec<hearth::chat::ChatMessage> =
        serde_json::from_value(case["messages"].clone()).unwrap();
    assert_eq!(
        engine.chat_tokens(&messages).unwrap(),
        ids(&case["prompt_ids"])
    );
    std::fs::remove_dir_all(&out).ok();
}

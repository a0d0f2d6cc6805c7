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
    // fp16 decoding is the slowest on lavapipe: the first chat and raw case in CI.
    let what = "converted SmolLM2";
    let cases = first_cases_unless_all(what, &fx, "chat", false)
        .into_iter()
        .chain(first_cases_unless_all(what, &fx, "raw", false));
    for (i, case) in cases.enumerate() {
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(
            &mut engine,
            ids(&case["prompt_ids"]),
            want.len().min(GREEDY_COMPARE),
        );
        let compared = check_greedy(&format!("converted case {i}"), &ours, &case);
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

/// A Phi-3 model's parts go back into its fused tensors (`qkv_proj`, `gate_up_proj`) at
/// their rows, and loading the folder splits them into the same values.
#[test]
fn fused_parts_are_written_fused_and_load_back_the_same() {
    use hearth::formats::Metadata;
    use hearth::model::arch::Arch;
    use hearth::model::convert::write_hf_folder;
    use hearth::model::loader::{LoadEvent, ModelLoader};
    use hearth::model::{ModelConfig, ModelHeader};

    let config: ModelConfig = serde_json::from_value(serde_json::json!({
        "arch": "Phi3", "name": "fused", "n_vocab": 8, "n_embd": 32, "n_layer": 2,
        "n_head": 2, "n_head_kv": 1, "head_dim": 16, "n_ff": 32, "n_ctx_train": 64,
        "rope_theta": 10000.0, "rope_style": "RotateHalf", "norm_eps": 1e-5,
        "tied_embeddings": true, "qkv_bias": false
    }))
    .unwrap();
    assert_eq!(config.arch, Arch::Phi3);
    // Every value says which tensor and which element it is.
    let values = |index: usize, n: usize| -> Vec<half::f16> {
        (0..n)
            .map(|i| half::f16::from_f32(index as f32 + (i % 64) as f32 / 64.0))
            .collect()
    };
    let tensors: Vec<(String, Vec<usize>, Vec<half::f16>)> = config
        .tensors()
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let n = t.shape.iter().product();
            (t.name, t.shape, values(i, n))
        })
        .collect();
    let header = ModelHeader {
        config: config.clone(),
        metadata: Metadata::default(),
        tokenizer_json: Some("{}".into()),
        hf_tokenizer: None,
        tensors: Vec::new(),
        source_format: "gguf",
    };
    let out = std::env::temp_dir().join(format!("hearth-fused-{}", std::process::id()));
    write_hf_folder(&out, &header, tensors.clone().into_iter().map(Ok), "{}").unwrap();

    let file = std::fs::read(out.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let index: serde_json::Value = serde_json::from_slice(&file[8..8 + header_len]).unwrap();
    for l in 0..2 {
        let qkv = &index[format!("model.layers.{l}.self_attn.qkv_proj.weight")];
        assert_eq!(qkv["shape"], serde_json::json!([64, 32]), "{index}");
        let gate_up = &index[format!("model.layers.{l}.mlp.gate_up_proj.weight")];
        assert_eq!(gate_up["shape"], serde_json::json!([64, 32]), "{index}");
    }
    assert!(index.get("model.layers.0.").is_none(), "{index}");

    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    let mut loader = ModelLoader::hf(
        &read("config.json"),
        b"{}",
        Some(&read("tokenizer_config.json")),
        vec!["model.safetensors".into()],
    )
    .unwrap();
    loader.begin_file("model.safetensors").unwrap();
    let mut loaded = std::collections::HashMap::new();
    for event in loader.feed(&file).unwrap() {
        if let LoadEvent::Tensor(t) = event {
            loaded.insert(t.name.clone(), t.data);
        }
    }
    loader.finish().unwrap();
    for (name, _, values) in &tensors {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(loaded.get(name), Some(&bytes), "{name}");
    }
    std::fs::remove_dir_all(&out).ok();
}

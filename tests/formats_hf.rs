//! safetensors reader, Hugging Face folders, the model loader and conversion.

mod formats_common;

use formats_common::*;
use hearth::formats::safetensors::{SafetensorsEvent, SafetensorsReader};
use hearth::formats::{DType, MetaValue, Tensor};
use hearth::model::convert::{permute_rows, unpermute_rows, write_hf_folder};
use hearth::model::hf_config::config_from_hf;
use hearth::model::loader::{load_path, LoadEvent, ModelLoader};
use hearth::model::rope::RopeScaling;
use hearth::model::ModelHeader;
use hearth::model::{Arch, RopeStyle};
use hearth::Error;

fn read_safetensors(bytes: &[u8], chunk: usize) -> hearth::Result<Vec<SafetensorsEvent>> {
    let mut reader = SafetensorsReader::new();
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        events.extend(reader.feed(piece)?);
    }
    reader.finish()?;
    Ok(events)
}

fn safetensors_err(bytes: &[u8]) -> Error {
    read_safetensors(bytes, bytes.len()).expect_err("reading succeeded")
}

/// Runs a loader over files given as (name, bytes); returns the header and tensors.
fn run_loader(
    mut loader: ModelLoader,
    files: &[(&str, Vec<u8>)],
    chunk: usize,
) -> hearth::Result<(ModelHeader, Vec<Tensor>)> {
    let mut header = None;
    let mut tensors = Vec::new();
    let mut take = |events: Vec<LoadEvent>| {
        for e in events {
            match e {
                LoadEvent::Ready(h) => {
                    assert!(header.is_none(), "second Ready");
                    header = Some(h);
                }
                LoadEvent::Tensor(t) => tensors.push(t),
            }
        }
    };
    for (name, bytes) in files {
        loader.begin_file(name)?;
        for piece in bytes.chunks(chunk) {
            take(loader.feed(piece)?);
        }
    }
    loader.finish()?;
    Ok((header.expect("no Ready event"), tensors))
}

fn tiny_hf_loader() -> ModelLoader {
    ModelLoader::hf(
        TINY_HF_CONFIG.as_bytes(),
        b"{\"model\": {}}",
        Some(TINY_TOKENIZER_CONFIG.as_bytes()),
        vec!["model.safetensors".into()],
    )
    .unwrap()
}

#[test]
fn safetensors_any_chunk_size() {
    let bytes = safetensors_bytes(&tiny_hf_entries());
    let whole = read_safetensors(&bytes, bytes.len()).unwrap();
    let SafetensorsEvent::Header(header) = &whole[0] else {
        panic!("first event is not the header")
    };
    assert_eq!(
        header.metadata.get("format").map(String::as_str),
        Some("pt")
    );
    assert_eq!(header.tensors.len(), 23);
    assert_eq!(whole.len(), 24);
    for chunk in [1, 3, 64] {
        let events = read_safetensors(&bytes, chunk).unwrap();
        assert_eq!(events.len(), whole.len());
        for (a, b) in events.iter().zip(&whole) {
            match (a, b) {
                (SafetensorsEvent::Tensor(a), SafetensorsEvent::Tensor(b)) => {
                    assert_eq!((&a.name, &a.shape, &a.data), (&b.name, &b.shape, &b.data))
                }
                (SafetensorsEvent::Header(a), SafetensorsEvent::Header(b)) => assert_eq!(a, b),
                _ => panic!("event order differs at chunk size {chunk}"),
            }
        }
    }
}

#[test]
fn safetensors_bad_header_length() {
    let mut bytes = safetensors_bytes(&tiny_hf_entries());
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(safetensors_err(&bytes), Error::Malformed(ref m) if m.contains("length")));
    // A length within bounds but beyond a known file.
    let mut bytes = safetensors_bytes(&tiny_hf_entries());
    bytes[..8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let mut reader = SafetensorsReader::with_file_len(bytes.len() as u64);
    assert!(matches!(reader.feed(&bytes), Err(Error::Malformed(_))));
    // Truncated before the prefix or inside the header.
    assert!(matches!(safetensors_err(&bytes[..5]), Error::Truncated(_)));
    let good = safetensors_bytes(&tiny_hf_entries());
    assert!(matches!(safetensors_err(&good[..100]), Error::Truncated(_)));
    assert!(matches!(
        safetensors_err(&good[..good.len() - 1]),
        Error::Truncated(_)
    ));
}

#[test]
fn safetensors_bad_json() {
    for header in [
        "{not json",
        "[1, 2]",
        r#"{"a": {"dtype": "F32"}}"#,
        r#"{"__metadata__": 5}"#,
    ] {
        let bytes = safetensors_with_header(header, &[]);
        assert!(
            matches!(safetensors_err(&bytes), Error::Malformed(_)),
            "{header}"
        );
    }
}

#[test]
fn safetensors_bad_offsets_and_dtypes() {
    let data = vec![0u8; 64];
    let entry =
        |json: &str| safetensors_with_header(json, &[("".into(), "".into(), vec![], data.clone())]);
    // Size does not match the shape.
    let wrong_size = entry(r#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}"#);
    assert!(matches!(safetensors_err(&wrong_size), Error::Malformed(ref m) if m.contains("'a'")));
    // End before begin.
    let reversed = entry(r#"{"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}"#);
    assert!(matches!(safetensors_err(&reversed), Error::Malformed(_)));
    // Overlap.
    let overlap = entry(
        r#"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}"#,
    );
    assert!(matches!(safetensors_err(&overlap), Error::Malformed(ref m) if m.contains("overlap")));
    // Past the end of a known file.
    let past = entry(r#"{"a": {"dtype": "F32", "shape": [32], "data_offsets": [0, 128]}}"#);
    let mut reader = SafetensorsReader::with_file_len(past.len() as u64);
    assert!(matches!(reader.feed(&past), Err(Error::Malformed(ref m)) if m.contains("past")));
    // Shape overflow.
    let huge = entry(
        r#"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 0]}}"#,
    );
    assert!(matches!(safetensors_err(&huge), Error::Malformed(ref m) if m.contains("overflow")));
    // Unsupported dtype.
    let i64s = entry(r#"{"a": {"dtype": "I64", "shape": [8], "data_offsets": [0, 64]}}"#);
    assert!(matches!(safetensors_err(&i64s),
        Error::UnsupportedTensorType { ref tensor, ref dtype } if tensor == "a" && dtype == "I64"));
}

#[test]
fn hf_config_parses() {
    let c = config_from_hf(TINY_HF_CONFIG.as_bytes()).unwrap();
    assert_eq!(c.arch, Arch::Llama);
    assert_eq!(
        (c.n_embd, c.n_layer, c.n_head, c.n_head_kv, c.head_dim),
        (8, 2, 2, 1, 4)
    );
    assert_eq!((c.n_ff, c.n_vocab, c.n_ctx_train), (16, 4, 64));
    assert_eq!(c.norm_eps, 1e-5);
    assert_eq!(c.rope_style, RopeStyle::RotateHalf);
    assert!(!c.tied_embeddings && !c.qkv_bias);
    let qwen = TINY_HF_CONFIG
        .replace("\"llama\"", "\"qwen2\"")
        .replace("LlamaForCausalLM", "Qwen2ForCausalLM");
    let q = config_from_hf(qwen.as_bytes()).unwrap();
    assert_eq!(q.arch, Arch::Qwen2);
    assert!(q.qkv_bias);
    let mistral = TINY_HF_CONFIG.replace("\"llama\"", "\"mistral\"");
    assert_eq!(
        config_from_hf(mistral.as_bytes()).unwrap().arch,
        Arch::Llama
    );
}

#[test]
fn hf_config_errors() {
    let e = config_from_hf(b"{ nope").unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
    let e = config_from_hf(b"[]").unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
    let mamba = TINY_HF_CONFIG.replace("\"llama\"", "\"mamba\"");
    let e = config_from_hf(mamba.as_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedArchitecture(ref a) if a == "mamba"),
        "{e:?}"
    );
    let missing = TINY_HF_CONFIG.replace("\"hidden_size\"", "\"hidden\"");
    let e = config_from_hf(missing.as_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::MissingKey(ref k) if k == "hidden_size"),
        "{e:?}"
    );
    let wrong = TINY_HF_CONFIG.replace("\"vocab_size\": 4", "\"vocab_size\": \"4\"");
    let e = config_from_hf(wrong.as_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::WrongType { ref key, .. } if key == "vocab_size"),
        "{e:?}"
    );
    let heads = TINY_HF_CONFIG.replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3");
    let e = config_from_hf(heads.as_bytes()).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
}

/// config.json's rope scaling is read by kind (transformers' names, `rope_type` or the older
/// `type`); a kind hearth does not know is a typed refusal naming it, never plain rope.
#[test]
fn rope_scaling_is_read_or_refused_by_kind() {
    let llama3 = RopeScaling::Llama3 {
        factor: 32.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_context: 8192,
    };
    let yarn = RopeScaling::Yarn {
        factor: 4.0,
        original_context: 32768,
        beta_fast: 32.0,
        beta_slow: 1.0,
    };
    for (scaling, expected) in [
        ("null", Ok(RopeScaling::None)),
        (r#"{"rope_type": "default"}"#, Ok(RopeScaling::None)),
        (
            r#"{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#,
            Ok(llama3),
        ),
        (
            r#"{"type": "linear", "factor": 2.0}"#,
            Ok(RopeScaling::Linear { factor: 2.0 }),
        ),
        (
            r#"{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}"#,
            Ok(yarn),
        ),
        (
            r#"{"rope_type": "longrope", "factor": 4.0}"#,
            Err("longrope"),
        ),
        (r#"{"rope_type": "dynamic", "factor": 2.0}"#, Err("dynamic")),
    ] {
        let json = TINY_HF_CONFIG.replace(
            r#""rope_scaling": null"#,
            &format!(r#""rope_scaling": {scaling}"#),
        );
        match (config_from_hf(json.as_bytes()), expected) {
            (Ok(c), Ok(want)) => assert_eq!(c.rope_scaling, want, "{scaling}"),
            (Err(Error::UnsupportedFeature(m)), Err(kind)) => {
                assert!(m.contains(&format!("rope scaling '{kind}'")), "{m}")
            }
            (other, _) => panic!("{scaling}: {other:?}"),
        }
    }
    // A kind that needs a factor and has none.
    let json = TINY_HF_CONFIG.replace(
        r#""rope_scaling": null"#,
        r#""rope_scaling": {"rope_type": "linear"}"#,
    );
    let e = config_from_hf(json.as_bytes()).unwrap_err();
    assert!(
        matches!(e, Error::MissingKey(ref k) if k == "rope_scaling.factor"),
        "{e:?}"
    );
}

#[test]
fn names_map_both_ways() {
    // Qwen2's table: Llama's tensors plus the Q/K/V biases.
    let table = Arch::Qwen2.table();
    for (hf, gguf) in [
        ("model.embed_tokens.weight", "token_embd.weight"),
        (
            "model.layers.12.self_attn.q_proj.weight",
            "blk.12.attn_q.weight",
        ),
        ("model.layers.0.self_attn.k_proj.bias", "blk.0.attn_k.bias"),
        (
            "model.layers.3.self_attn.o_proj.weight",
            "blk.3.attn_output.weight",
        ),
        (
            "model.layers.3.input_layernorm.weight",
            "blk.3.attn_norm.weight",
        ),
        (
            "model.layers.3.post_attention_layernorm.weight",
            "blk.3.ffn_norm.weight",
        ),
        (
            "model.layers.3.mlp.down_proj.weight",
            "blk.3.ffn_down.weight",
        ),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ] {
        assert_eq!(table.hf_to_gguf(hf).as_deref(), Some(gguf));
        assert_eq!(table.gguf_to_hf(gguf).as_deref(), Some(hf));
    }
    assert_eq!(
        table.hf_to_gguf("model.layers.0.self_attn.rotary_emb.inv_freq"),
        None
    );
    assert_eq!(table.hf_to_gguf("model.layers.x.mlp.up_proj.weight"), None);
    // Llama has no biases.
    let llama = Arch::Llama.table();
    assert_eq!(
        llama.hf_to_gguf("model.layers.0.self_attn.k_proj.bias"),
        None
    );
    assert_eq!(
        llama
            .hf_to_gguf("model.layers.3.mlp.down_proj.weight")
            .as_deref(),
        Some("blk.3.ffn_down.weight")
    );
}

#[test]
fn loader_reads_a_single_file_hf_model() {
    let bytes = safetensors_bytes(&tiny_hf_entries());
    for chunk in [1, 7, bytes.len()] {
        let (header, tensors) = run_loader(
            tiny_hf_loader(),
            &[("model.safetensors", bytes.clone())],
            chunk,
        )
        .unwrap();
        assert_eq!(header.source_format, "safetensors");
        assert_eq!(header.tokenizer_json.as_deref(), Some("{\"model\": {}}"));
        assert_eq!(
            header.metadata.str("general.architecture").unwrap(),
            "llama"
        );
        let tokenizer = header.hf_tokenizer.as_ref().unwrap();
        assert_eq!(tokenizer.bos_token.as_deref(), Some("<s>"));
        assert_eq!(tokenizer.eos_token.as_deref(), Some("</s>"));
        assert!(header
            .chat_template()
            .unwrap()
            .unwrap()
            .contains("messages"));
        assert_eq!(tensors.len(), 21, "inv_freq is dropped");
        assert!(tensors.iter().any(|t| t.name == "blk.1.attn_output.weight"));
        assert!(tensors.iter().any(|t| t.name == "output.weight"));
    }
}

#[test]
fn loader_rejects_missing_and_misshapen_hf_tensors_before_data() {
    let mut entries = tiny_hf_entries();
    entries.retain(|e| e.0 != "model.layers.1.mlp.up_proj.weight");
    let bytes = safetensors_bytes(&entries);
    let header_len = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut loader = tiny_hf_loader();
    loader.begin_file("model.safetensors").unwrap();
    // The header alone is enough to fail.
    let e = loader.feed(&bytes[..header_len]).unwrap_err();
    assert!(
        matches!(e, Error::MissingTensor(ref n) if n == "blk.1.ffn_up.weight"),
        "{e:?}"
    );

    let mut entries = tiny_hf_entries();
    entries[2] = f32_entry("model.layers.0.self_attn.q_proj.weight", &[8, 4], 1.0);
    let bytes = safetensors_bytes(&entries);
    let e = run_loader(tiny_hf_loader(), &[("model.safetensors", bytes)], 4096).unwrap_err();
    assert!(
        matches!(e, Error::ShapeMismatch { ref tensor, .. } if tensor == "blk.0.attn_q.weight"),
        "{e:?}"
    );
}

#[test]
fn loader_reads_a_sharded_hf_model_from_its_index() {
    let entries = tiny_hf_entries();
    let (first, second) = entries.split_at(10);
    let files = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut weight_map = serde_json::Map::new();
    for (i, part) in [first, second].iter().enumerate() {
        for e in part.iter() {
            weight_map.insert(e.0.clone(), files[i].into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map}).to_string();
    let loader = || {
        ModelLoader::hf(
            TINY_HF_CONFIG.as_bytes(),
            b"{}",
            None,
            files.iter().map(|f| f.to_string()).collect(),
        )
        .unwrap()
    };
    let shards = [
        (files[0], safetensors_bytes(first)),
        (files[1], safetensors_bytes(second)),
    ];
    let (header, tensors) =
        run_loader(loader().with_index(index.as_bytes()).unwrap(), &shards, 5).unwrap();
    assert_eq!(header.tensors.len(), 21);
    assert!(header.tensors.iter().all(|t| t.dtype == DType::F32));
    assert_eq!(tensors.len(), 21);

    // Without the index a sharded model cannot be checked up front.
    let e = run_loader(loader(), &shards, 4096).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
    // An index that lacks a tensor fails before any tensor bytes.
    let short = index.replace("model.norm.weight", "model.nrm.weight");
    let mut l = loader().with_index(short.as_bytes()).unwrap();
    l.begin_file(files[0]).unwrap();
    let e = l.feed(&shards[0].1[..4]).unwrap_err();
    assert!(
        matches!(e, Error::MissingTensor(ref n) if n == "output_norm.weight"),
        "{e:?}"
    );
    // A shard never fed.
    let e = run_loader(
        loader().with_index(index.as_bytes()).unwrap(),
        &shards[..1],
        64,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e:?}");
}

#[test]
fn loader_reads_gguf() {
    let bytes = tiny_llama().build();
    let (header, tensors) = run_loader(ModelLoader::gguf(), &[("tiny.gguf", bytes)], 3).unwrap();
    assert_eq!(header.source_format, "gguf");
    assert_eq!(header.config.n_layer, 2);
    assert_eq!(tensors.len(), 20);
    let mut missing = tiny_llama();
    missing
        .tensors
        .retain(|t| t.name != "blk.0.ffn_down.weight");
    let e = run_loader(ModelLoader::gguf(), &[("tiny.gguf", missing.build())], 4096).unwrap_err();
    assert!(
        matches!(e, Error::MissingTensor(ref n) if n == "blk.0.ffn_down.weight"),
        "{e:?}"
    );
}

#[test]
fn load_path_reads_the_real_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL_MODEL);
    assert!(
        path.exists(),
        "{}: get it with scripts/fetch-models.sh",
        path.display()
    );
    let mut ready = 0;
    let mut tensors = 0;
    let mut last = (0, 0);
    load_path(&path, 1 << 20, |event, done, total| {
        match event {
            LoadEvent::Ready(h) => {
                ready += 1;
                assert_eq!(h.config.n_layer, 30);
            }
            LoadEvent::Tensor(_) => tensors += 1,
        }
        last = (done, total);
        Ok(())
    })
    .unwrap();
    assert_eq!((ready, tensors), (1, 272));
    assert_eq!(last, (98_362_432, 98_362_432));
}

#[test]
fn permutation_round_trips() {
    // 2 heads of head_dim 6, rows of 3 values.
    let data: Vec<u32> = (0..36).collect();
    let permuted = permute_rows(&data, 2, 3).unwrap();
    assert_ne!(permuted, data);
    assert_eq!(unpermute_rows(&permuted, 2, 3).unwrap(), data);
    assert_eq!(
        permute_rows(&unpermute_rows(&data, 2, 3).unwrap(), 2, 3).unwrap(),
        data
    );
    // Rotate-half rows (0, 3) of head 0 become adjacent pairwise rows (0, 1).
    let row = |v: &[u32], r: usize| v[r * 3..r * 3 + 3].to_vec();
    assert_eq!(row(&permuted, 1), row(&data, 3));
    assert_eq!(row(&permuted, 2), row(&data, 1));
    assert_eq!(row(&permuted, 7), row(&data, 9));
    assert!(matches!(
        permute_rows(&data, 5, 3),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn convert_then_load_gives_the_same_model() {
    let bytes = tiny_llama()
        .kv("tokenizer.ggml.bos_token_id", MetaValue::U32(0))
        .kv("tokenizer.ggml.eos_token_id", MetaValue::U32(1))
        .kv(
            "tokenizer.chat_template",
            MetaValue::String("{{ x }}".into()),
        )
        .build();
    let (header, tensors) = run_loader(ModelLoader::gguf(), &[("tiny.gguf", bytes)], 4096).unwrap();
    let out = std::env::temp_dir().join(format!("hearth-convert-{}", std::process::id()));
    let items = tensors
        .iter()
        .map(|t| hearth::formats::quant::to_f16(t).map(|v| (t.name.clone(), t.shape.clone(), v)));
    write_hf_folder(&out, &header, items, "{\"model\": {}}").unwrap();

    let mut loaded_header = None;
    let mut loaded = Vec::new();
    load_path(&out, 100, |e, _, _| {
        match e {
            LoadEvent::Ready(h) => loaded_header = Some(h),
            LoadEvent::Tensor(t) => loaded.push(t),
        }
        Ok(())
    })
    .unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let loaded_header = loaded_header.unwrap();
    let mut expected = header.config.clone();
    expected.rope_style = RopeStyle::RotateHalf;
    assert_eq!(loaded_header.config, expected);
    let tokenizer = loaded_header.hf_tokenizer.as_ref().unwrap();
    assert_eq!(tokenizer.bos_token.as_deref(), Some("<s>"));
    assert_eq!(tokenizer.eos_token.as_deref(), Some("</s>"));
    assert_eq!(loaded_header.chat_template().unwrap(), Some("{{ x }}"));
    assert_eq!(loaded.len(), 20);
    for t in &loaded {
        assert_eq!(t.dtype, DType::F16);
        let original = tensors.iter().find(|o| o.name == t.name).unwrap();
        let want = hearth::formats::quant::to_f16(original).unwrap();
        let want = match t.name.as_str() {
            n if n.ends_with("attn_q.weight") => unpermute_rows(&want, 2, 8).unwrap(),
            n if n.ends_with("attn_k.weight") => unpermute_rows(&want, 1, 8).unwrap(),
            _ => want,
        };
        assert_eq!(
            hearth::formats::quant::to_f16(t).unwrap(),
            want,
            "{}",
            t.name
        );
    }
}

/// What hearth's attention and head do not compute is refused by name: another scale of
/// the queries (Gemma 3 27B's `query_pre_attn_scalar`) and logit soft-capping (Gemma 2).
#[test]
fn attention_scales_and_soft_capping_are_refused() {
    // head_dim 4 (8 / 2 heads): a scalar equal to it is the usual scale.
    let with = |extra: &str| {
        let json = TINY_HF_CONFIG.replace(
            r#""rope_scaling": null"#,
            &format!(r#""rope_scaling": null, {extra}"#),
        );
        config_from_hf(json.as_bytes())
    };
    assert!(with(r#""query_pre_attn_scalar": 4"#).is_ok());
    assert!(with(r#""final_logit_softcapping": null"#).is_ok());
    for (extra, named) in [
        (r#""query_pre_attn_scalar": 3"#, "query_pre_attn_scalar"),
        (
            r#""final_logit_softcapping": 30.0"#,
            "final_logit_softcapping",
        ),
        (
            r#""attn_logit_softcapping": 50.0"#,
            "attn_logit_softcapping",
        ),
    ] {
        let e = with(extra).unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedFeature(ref m) if m.contains(named)),
            "{extra}: {e:?}"
        );
    }
}

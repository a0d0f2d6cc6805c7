//! `hearth info` and `hearth tokenize`: read the header only, no GPU needed.
//!
//! A GGUF file is described from its header alone, without the model loader, so that any
//! GGUF whose header parses can be inspected and tokenized, whatever its architecture or
//! tensor types; whether hearth can run it is one line of the description.

use std::collections::BTreeMap;
use std::path::Path;

use hearth::chat::ChatTemplate;
use hearth::formats::gguf::{read_gguf_header, GgufHeader, CHAT_TEMPLATE_KEY};
use hearth::formats::{Metadata, TensorInfo};
use hearth::model::fused::split_infos;
use hearth::model::loader::{load_path, LoadEvent};
use hearth::model::rope::RopeScaling;
use hearth::model::tensors::check_tensors;
use hearth::model::{ModelConfig, ModelHeader};
use hearth::tokenizer::Tokenizer;
use hearth::{Error, Result};

/// The header of a Hugging Face folder, without reading its tensors: reading stops at
/// the first event.
fn read_hf_header(path: &Path) -> Result<ModelHeader> {
    let mut header = None;
    let read = load_path(path, 1 << 20, |event, _, _| match event {
        LoadEvent::Ready(h) => {
            header = Some(h);
            Err(Error::Aborted)
        }
        LoadEvent::Tensor(_) => Ok(()),
    });
    match (read, header) {
        (_, Some(h)) => Ok(h),
        (Err(e), None) => Err(e),
        (Ok(()), None) => Err(Error::Truncated("the model header never completed".into())),
    }
}

/// A Hugging Face model is a folder (as in `load_path`); anything else is read as GGUF.
fn is_hf_folder(path: &Path) -> bool {
    path.is_dir()
}

pub fn info(model: &Path) -> Result<()> {
    if is_hf_folder(model) {
        hf_info(model)
    } else {
        let header = read_gguf_header(model)?;
        println!("file:          {}", model.display());
        gguf_info(&header);
        Ok(())
    }
}

/// Describes a GGUF header; every part that cannot be built (configuration, tokenizer,
/// template) is reported in its line instead of failing the command.
fn gguf_info(header: &GgufHeader) {
    let m = &header.metadata;
    // A key of the wrong type is as good as absent for a description.
    let text = |key: &str| m.opt_str(key).ok().flatten().unwrap_or("-").to_string();
    println!("format:        gguf (version {})", header.version);
    println!("name:          {}", text("general.name"));
    println!("architecture:  {}", text("general.architecture"));
    print_parameters(&header.tensors);
    let runnable = ModelConfig::from_gguf(m, &header.tensors).and_then(|config| {
        let tensors = split_infos(&config, header.tensors.clone())?;
        check_tensors(&config, &tensors).map(|()| config)
    });
    if let Ok(config) = &runnable {
        print_config(config);
    }
    print_tensor_types(&header.tensors);
    match Tokenizer::from_gguf(m) {
        Ok(tokenizer) => {
            print_tokenizer(&tokenizer);
            print_chat_template(m, Some(&tokenizer));
        }
        Err(e) => {
            println!("tokenizer:     unusable — {e}");
            print_chat_template(m, None);
        }
    }
    match runnable {
        Ok(_) => println!("runs:          yes"),
        Err(e) => println!("runs:          no — {e}"),
    }
}

/// A Hugging Face folder goes through the model loader, which checks it completely: any
/// problem fails the command.
fn hf_info(model: &Path) -> Result<()> {
    let header = read_hf_header(model)?;
    let c = &header.config;
    let tokenizer = header.tokenizer()?;
    println!("file:          {}", model.display());
    println!("format:        {}", header.source_format);
    println!("name:          {}", c.name.as_deref().unwrap_or("-"));
    println!("architecture:  {:?}", c.arch);
    print_parameters(&header.tensors);
    print_config(c);
    print_tensor_types(&header.tensors);
    print_tokenizer(&tokenizer);
    match header.chat_template()? {
        Some(src) => {
            ChatTemplate::with_tokenizer(Some(src), &tokenizer)?;
            println!("chat template: {} bytes (parses)", src.len());
        }
        None => println!("chat template: none (ChatML is used)"),
    }
    println!("runs:          yes");
    Ok(())
}

fn print_parameters(tensors: &[TensorInfo]) {
    let n_params: u128 = tensors.iter().map(|t| t.n_elements() as u128).sum();
    println!("parameters:    {:.1}M", n_params as f64 / 1e6);
}

fn print_config(c: &ModelConfig) {
    println!("layers:        {}", c.n_layer);
    println!("hidden size:   {}", c.n_embd);
    println!(
        "heads:         {} (kv {}), head dim {}",
        c.n_head, c.n_head_kv, c.head_dim
    );
    println!("ffn size:      {}", c.n_ff);
    println!("vocabulary:    {}", c.n_vocab);
    println!("context:       {} (trained)", c.n_ctx_train);
    match c.learned_positions {
        true => println!("positions:     learned embedding (no rope)"),
        false => println!("rope:          {:?}, theta {}", c.rope_style, c.rope_theta),
    }
    if c.rope_scaling != RopeScaling::None {
        println!("rope scaling:  {:?}", c.rope_scaling);
    }
    if c.layer_norm {
        println!("norms:         LayerNorm with biases");
    }
    println!("norm eps:      {}", c.norm_eps);
    println!("tied embed:    {}", c.tied_embeddings);
    println!("qkv bias:      {}", c.qkv_bias);
    println!("qk norm:       {}", c.qk_norm);
    match c.ffn_gated {
        true => println!("ffn:           {:?}-gated", c.ffn_activation),
        false => println!("ffn:           {:?}, ungated", c.ffn_activation),
    }
    if c.output_biases {
        println!("biases:        on the attention output and the FFN products");
    }
    if c.post_norms {
        println!("post norms:    attention and FFN outputs normed before the residual add");
    }
    if c.embedding_scale {
        println!("embedding:     scaled by √{}", c.n_embd);
    }
    let fused: Vec<&str> = c.arch.table().fused.iter().map(|f| f.gguf).collect();
    if !fused.is_empty() {
        println!(
            "fused:         {} (split by rows at load)",
            fused.join(", ")
        );
    }
    if c.sliding_window > 0 {
        let local = (0..c.n_layer)
            .filter(|&l| c.layer_window(l).is_some())
            .count();
        println!(
            "attention:     {local} of {} layers local (window {}, rope theta {}), every {}th global",
            c.n_layer, c.sliding_window, c.rope_theta_local, c.global_every
        );
    }
}

fn print_tensor_types(tensors: &[TensorInfo]) {
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tensors {
        *types.entry(t.dtype.name()).or_default() += 1;
    }
    let types: Vec<String> = types.iter().map(|(t, n)| format!("{t}×{n}")).collect();
    println!("tensors:       {} ({})", tensors.len(), types.join(", "));
}

fn print_tokenizer(tokenizer: &Tokenizer) {
    println!(
        "tokenizer:     {} tokens, bos {:?}, eos {:?}, stop {:?}",
        tokenizer.vocab_size(),
        tokenizer.bos_id(),
        tokenizer.eos_id(),
        tokenizer.stop_ids()
    );
}

/// The template's size and whether it parses (which needs the tokenizer's BOS/EOS text);
/// a problem is described, not returned.
fn print_chat_template(metadata: &Metadata, tokenizer: Option<&Tokenizer>) {
    let source = match metadata.opt_str(CHAT_TEMPLATE_KEY) {
        Ok(Some(source)) => source,
        Ok(None) => return println!("chat template: none (ChatML is used)"),
        Err(e) => return println!("chat template: unusable — {e}"),
    };
    let verdict = match tokenizer.map(|t| ChatTemplate::from_metadata(metadata, t)) {
        Some(Ok(_)) => "parses".to_string(),
        Some(Err(e)) => format!("does not parse: {e}"),
        None => "not checked without a tokenizer".to_string(),
    };
    println!("chat template: {} bytes ({verdict})", source.len());
}

/// The tokenizer of a model: for a GGUF file, built from its metadata alone.
fn read_tokenizer(model: &Path) -> Result<Tokenizer> {
    if is_hf_folder(model) {
        read_hf_header(model)?.tokenizer()
    } else {
        Tokenizer::from_gguf(&read_gguf_header(model)?.metadata)
    }
}

pub fn tokenize(model: &Path, text: &str, json: bool, bos: bool) -> Result<()> {
    let tokenizer = read_tokenizer(model)?;
    let mut ids = tokenizer.encode(text, true)?;
    if bos {
        if let Some(b) = tokenizer.bos_id() {
            ids.insert(0, b);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&ids).unwrap_or_default());
    } else {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        println!("{}", ids.join(" "));
    }
    Ok(())
}

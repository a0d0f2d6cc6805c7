//! `hearth info` and `hearth tokenize`: read the header only, no GPU needed.

use std::collections::BTreeMap;
use std::path::Path;

use hearth::chat::ChatTemplate;
use hearth::formats::loader::{load_path, LoadEvent, ModelHeader};
use hearth::tokenizer::Tokenizer;
use hearth::{Error, Result};

/// The header of a model file or folder, without reading its tensors: reading stops at
/// the first event.
fn read_header(path: &Path) -> Result<ModelHeader> {
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

pub fn info(model: &Path) -> Result<()> {
    let header = read_header(model)?;
    let c = &header.config;
    let tokenizer = Tokenizer::from_header(&header)?;
    let n_params: usize = header.tensors.iter().map(|t| t.n_elements()).sum();
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &header.tensors {
        *types.entry(t.dtype.name()).or_default() += 1;
    }
    println!("file:          {}", model.display());
    println!("format:        {}", header.source_format);
    println!("name:          {}", c.name.as_deref().unwrap_or("-"));
    println!("architecture:  {:?}", c.arch);
    println!("parameters:    {:.1}M", n_params as f64 / 1e6);
    println!("layers:        {}", c.n_layer);
    println!("hidden size:   {}", c.n_embd);
    println!(
        "heads:         {} (kv {}), head dim {}",
        c.n_head, c.n_head_kv, c.head_dim
    );
    println!("ffn size:      {}", c.n_ff);
    println!("vocabulary:    {}", c.n_vocab);
    println!("context:       {} (trained)", c.n_ctx_train);
    println!("rope:          {:?}, theta {}", c.rope_style, c.rope_theta);
    println!("norm eps:      {}", c.norm_eps);
    println!("tied embed:    {}", c.tied_embeddings);
    println!("qkv bias:      {}", c.qkv_bias);
    let types: Vec<String> = types.iter().map(|(t, n)| format!("{t}×{n}")).collect();
    println!(
        "tensors:       {} ({})",
        header.tensors.len(),
        types.join(", ")
    );
    println!(
        "tokenizer:     {} tokens, bos {:?}, eos {:?}, stop {:?}",
        tokenizer.vocab_size(),
        tokenizer.bos_id(),
        tokenizer.eos_id(),
        tokenizer.stop_ids()
    );
    match header.metadata.opt_str("tokenizer.chat_template")? {
        Some(src) => {
            ChatTemplate::from_metadata(&header.metadata, &tokenizer)?;
            println!("chat template: {} bytes (parses)", src.len());
        }
        None => println!("chat template: none (ChatML is used)"),
    }
    Ok(())
}

pub fn tokenize(model: &Path, text: &str, json: bool, bos: bool) -> Result<()> {
    let header = read_header(model)?;
    let tokenizer = Tokenizer::from_header(&header)?;
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

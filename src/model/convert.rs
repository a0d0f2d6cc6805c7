//! Conversion of a loaded model into a Hugging Face folder (config.json, F16
//! model.safetensors, tokenizer.json, tokenizer_config.json).
//!
//! llama.cpp's converter permutes the rows of llama-arch Q and K weights so that rope
//! rotates adjacent pairs; Hugging Face llama rotates halves. Converting a GGUF llama model
//! therefore un-permutes those rows (see [`unpermute_rows`]).

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::formats::Metadata;
use crate::model::config::ModelConfig;
use crate::model::header::ModelHeader;

/// Which way rows move between the two rope layouts.
#[derive(Clone, Copy)]
enum Direction {
    /// Hugging Face (rotate-half) → GGUF (pairwise), as llama.cpp's `permute`.
    ToPairwise,
    /// GGUF (pairwise) → Hugging Face (rotate-half).
    ToRotateHalf,
}

/// Reorders the rows of a Q or K weight (or bias) from the rotate-half layout to the
/// pairwise one, as llama.cpp's `convert_hf_to_gguf.py` does:
/// `w.reshape(n_head, 2, head_dim / 2, ...).swapaxes(1, 2)`. Within each head, pairwise
/// row `2i + j` is rotate-half row `j * head_dim / 2 + i`.
pub fn permute_rows<T: Copy>(data: &[T], n_head: usize, row_len: usize) -> Result<Vec<T>> {
    move_rows(data, n_head, row_len, Direction::ToPairwise)
}

/// The inverse of [`permute_rows`]: pairwise layout back to rotate-half.
pub fn unpermute_rows<T: Copy>(data: &[T], n_head: usize, row_len: usize) -> Result<Vec<T>> {
    move_rows(data, n_head, row_len, Direction::ToRotateHalf)
}

fn move_rows<T: Copy>(data: &[T], n_head: usize, row_len: usize, dir: Direction) -> Result<Vec<T>> {
    let n_rows = data.len().checked_div(row_len).unwrap_or(0);
    let whole_rows = n_rows * row_len == data.len();
    let whole_pairs = n_head > 0 && n_rows.is_multiple_of(2 * n_head);
    if row_len == 0 || n_rows == 0 || !whole_rows || !whole_pairs {
        return Err(Error::InvalidConfig(format!(
            "cannot permute {} values as {n_head} heads of rows of {row_len}",
            data.len()
        )));
    }
    let head_dim = n_rows / n_head;
    let half = head_dim / 2;
    let mut out = Vec::with_capacity(data.len());
    for row in 0..n_rows {
        let (head, r) = (row / head_dim, row % head_dim);
        // Source row for output row `r` within the head.
        let src_in_head = match dir {
            // pairwise r = 2i + j  ←  rotate-half j * half + i
            Direction::ToPairwise => (r % 2) * half + r / 2,
            // rotate-half r = j * half + i  ←  pairwise 2i + j
            Direction::ToRotateHalf => 2 * (r % half) + r / half,
        };
        let src = (head * head_dim + src_in_head) * row_len;
        out.extend_from_slice(&data[src..src + row_len]);
    }
    Ok(out)
}

/// A float as written in JSON: f32 values go through their shortest decimal form, so
/// 1e-5 is written as 1e-5 and not as 9.999999747378752e-6.
fn json_f32(x: f32) -> Value {
    format!("{x}")
        .parse::<f64>()
        .ok()
        .and_then(|v| serde_json::Number::from_f64(v).map(Value::Number))
        .unwrap_or(Value::Null)
}

/// The `config.json` Hugging Face transformers expects for this model (weights in F16).
pub fn hf_config_json(config: &ModelConfig, metadata: &Metadata) -> Value {
    let table = config.arch.table();
    let mut map = Map::new();
    if let Some(class) = table.hf_classes.first() {
        map.insert("architectures".into(), json!([class]));
    }
    if let Some(model_type) = table.hf_model_types.first() {
        map.insert("model_type".into(), json!(model_type));
    }
    if let Some(name) = &config.name {
        map.insert("_name_or_path".into(), json!(name));
    }
    map.insert("hidden_size".into(), json!(config.n_embd));
    map.insert("intermediate_size".into(), json!(config.n_ff));
    map.insert("num_hidden_layers".into(), json!(config.n_layer));
    map.insert("num_attention_heads".into(), json!(config.n_head));
    map.insert("num_key_value_heads".into(), json!(config.n_head_kv));
    map.insert("head_dim".into(), json!(config.head_dim));
    map.insert("max_position_embeddings".into(), json!(config.n_ctx_train));
    map.insert("vocab_size".into(), json!(config.n_vocab));
    map.insert("rms_norm_eps".into(), json_f32(config.norm_eps));
    map.insert("rope_theta".into(), json_f32(config.rope_theta));
    map.insert("rope_scaling".into(), Value::Null);
    map.insert("hidden_act".into(), json!("silu"));
    map.insert("tie_word_embeddings".into(), json!(config.tied_embeddings));
    map.insert("torch_dtype".into(), json!("float16"));
    map.insert("use_cache".into(), json!(true));
    for (key, value) in table.hf_config_flags {
        map.insert(key.to_string(), json!(value));
    }
    for (key, gguf_key) in [
        ("bos_token_id", "tokenizer.ggml.bos_token_id"),
        ("eos_token_id", "tokenizer.ggml.eos_token_id"),
    ] {
        if let Some(id) = metadata.get(gguf_key).and_then(|v| v.as_u64()) {
            map.insert(key.into(), json!(id));
        }
    }
    Value::Object(map)
}

/// A special token's text: the Hugging Face string when the model came from one, else the
/// GGUF token id looked up in `tokenizer.ggml.tokens`.
fn special_token(hf: Option<&String>, metadata: &Metadata, gguf_id_key: &str) -> Option<String> {
    if let Some(s) = hf {
        return Some(s.clone());
    }
    let id = usize::try_from(metadata.get(gguf_id_key)?.as_u64()?).ok()?;
    let tokens = metadata.get("tokenizer.ggml.tokens")?;
    tokens.str_at(id).map(str::to_string)
}

/// The `tokenizer_config.json` for this model: chat template and special tokens.
pub fn hf_tokenizer_config_json(header: &ModelHeader) -> Value {
    let hf = header.hf_tokenizer.as_ref();
    let mut map = Map::new();
    map.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    map.insert("model_max_length".into(), json!(header.config.n_ctx_train));
    map.insert("clean_up_tokenization_spaces".into(), json!(false));
    // A template of the wrong type is left out, as a key the folder cannot express.
    if let Ok(Some(t)) = header.chat_template() {
        map.insert("chat_template".into(), json!(t));
    }
    let tokens = [
        (
            "bos_token",
            hf.and_then(|h| h.bos_token.as_ref()),
            "tokenizer.ggml.bos_token_id",
        ),
        (
            "eos_token",
            hf.and_then(|h| h.eos_token.as_ref()),
            "tokenizer.ggml.eos_token_id",
        ),
    ];
    for (key, hf_text, gguf_key) in tokens {
        if let Some(t) = special_token(hf_text, &header.metadata, gguf_key) {
            map.insert(key.into(), json!(t));
        }
    }
    Value::Object(map)
}

/// Writes `header`'s model as a Hugging Face folder with F16 weights. `tensors` yields
/// each tensor once (canonical name, shape, values) in any order; each is written to disk
/// as it arrives. Tensors the architecture does not use are skipped.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_hf_folder(
    outdir: &std::path::Path,
    header: &ModelHeader,
    tensors: impl Iterator<Item = Result<(String, Vec<usize>, Vec<half::f16>)>>,
    tokenizer_json: &str,
) -> Result<()> {
    use std::collections::HashMap;
    use std::io::{Seek, SeekFrom, Write};

    use crate::model::arch::Role;
    use crate::model::rope::RopeStyle;
    use crate::model::tensors::shape_matches;

    let io = |p: &std::path::Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    let config = &header.config;
    // config.json has no way to say these; refused rather than written as plain rope.
    if config.rope_scaling != crate::model::rope::RopeScaling::None {
        return Err(Error::UnsupportedFeature(format!(
            "converting a model with rope scaling ({:?}) to a Hugging Face folder",
            config.rope_scaling
        )));
    }
    // GPT-2's config.json and Conv1D layout are not written.
    if config.arch.table().hf_transposed {
        return Err(Error::UnsupportedFeature(format!(
            "converting a {:?} model to a Hugging Face folder",
            config.arch
        )));
    }
    std::fs::create_dir_all(outdir).map_err(|e| io(outdir, e))?;
    let write_json = |name: &str, value: &Value| -> Result<()> {
        let path = outdir.join(name);
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        std::fs::write(&path, text + "\n").map_err(|e| io(&path, e))
    };
    write_json("config.json", &hf_config_json(config, &header.metadata))?;
    write_json("tokenizer_config.json", &hf_tokenizer_config_json(header))?;
    let tokenizer_path = outdir.join("tokenizer.json");
    std::fs::write(&tokenizer_path, tokenizer_json).map_err(|e| io(&tokenizer_path, e))?;

    // The safetensors header needs every offset up front: lay the tensors out in the
    // architecture's order, then write each one at its place as it arrives.
    struct Slot {
        role: Role,
        shape: Vec<usize>,
        offset: u64,
        written: bool,
    }
    let mut slots: HashMap<String, Slot> = HashMap::new();
    let mut entries = Map::new();
    entries.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0u64;
    let (table, dims) = (config.arch.table(), config.dims());
    // A fused tensor's entry (Phi-3's qkv_proj, gate_up_proj) is laid out at its first
    // part; each part is written at its rows within it.
    let mut fused_at: HashMap<String, u64> = HashMap::new();
    for t in config.tensors() {
        let bytes = t.shape.iter().product::<usize>() as u64 * 2;
        let row_bytes = t.shape.last().copied().unwrap_or(1) as u64 * 2;
        let at = match (table.fused_part_of(t.role, &dims), t.layer) {
            (Some((f, before)), Some(layer)) => {
                let name = format!("{}{layer}.{}", table.hf_layer_prefix, f.hf);
                let start = match fused_at.get(&name) {
                    Some(&start) => start,
                    None => {
                        let parts = table.fused_parts(f, layer, &dims);
                        let rows: usize = parts.iter().map(|(_, r)| r).sum();
                        let shape = [rows, t.shape.last().copied().unwrap_or(1)];
                        let end = offset + rows as u64 * row_bytes;
                        entries.insert(
                            name.clone(),
                            json!({"dtype": "F16", "shape": shape, "data_offsets": [offset, end]}),
                        );
                        fused_at.insert(name, offset);
                        let start = offset;
                        offset = end;
                        start
                    }
                };
                start + before as u64 * row_bytes
            }
            _ => {
                entries.insert(
                    t.hf_name,
                    json!({"dtype": "F16", "shape": t.shape, "data_offsets": [offset, offset + bytes]}),
                );
                offset += bytes;
                offset - bytes
            }
        };
        slots.insert(
            t.name,
            Slot {
                role: t.role,
                shape: t.shape,
                offset: at,
                written: false,
            },
        );
    }
    let mut header_json = serde_json::to_string(&Value::Object(entries))
        .map_err(|e| Error::Io(format!("safetensors header: {e}")))?;
    // Pad with spaces so the data section starts 8-byte aligned, as safetensors does.
    while header_json.len() % 8 != 0 {
        header_json.push(' ');
    }
    let data_start = 8 + header_json.len() as u64;

    let path = outdir.join("model.safetensors");
    let mut file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
    file.write_all(&(header_json.len() as u64).to_le_bytes())
        .and_then(|_| file.write_all(header_json.as_bytes()))
        .and_then(|_| file.set_len(data_start + offset))
        .map_err(|e| io(&path, e))?;

    // Hugging Face checkpoints rotate halves; a model whose Q/K rows are laid out for
    // pairwise rope (a GGUF llama) has them put back.
    let permute = config.rope_style == RopeStyle::Pairwise;
    for item in tensors {
        let (name, shape, values) = item?;
        let Some(slot) = slots.get_mut(&name) else {
            continue;
        };
        if !shape_matches(&slot.shape, &shape)
            || values.len() != slot.shape.iter().product::<usize>()
        {
            return Err(Error::ShapeMismatch {
                tensor: name,
                expected: slot.shape.clone(),
                found: shape,
            });
        }
        if slot.written {
            return Err(Error::Malformed(format!("tensor '{name}' was given twice")));
        }
        let row_len = shape.last().copied().unwrap_or(1);
        let values = match (permute, slot.role) {
            (true, Role::AttnQ | Role::AttnQBias) => {
                unpermute_rows(&values, config.n_head, row_len)?
            }
            (true, Role::AttnK | Role::AttnKBias) => {
                unpermute_rows(&values, config.n_head_kv, row_len)?
            }
            _ => values,
        };
        // Gemma's checkpoints store norm weights without the 1 its GGUF files hold.
        let offset = config.arch.table().hf_norm_offset;
        let values = match slot.role.is_norm() && offset != 0.0 {
            true => values
                .iter()
                .map(|v| half::f16::from_f32(v.to_f32() - offset))
                .collect(),
            false => values,
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        file.seek(SeekFrom::Start(data_start + slot.offset))
            .and_then(|_| file.write_all(&bytes))
            .map_err(|e| io(&path, e))?;
        slot.written = true;
    }
    if let Some(name) = slots
        .iter()
        .filter(|(_, s)| !s.written)
        .map(|(n, _)| n)
        .min()
    {
        return Err(Error::MissingTensor(name.clone()));
    }
    file.flush().map_err(|e| io(&path, e))
}

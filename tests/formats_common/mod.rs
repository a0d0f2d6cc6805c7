//! Builders for small synthetic model files, shared by the format tests.

#![allow(dead_code)]

use hearth::formats::MetaValue;

pub const REAL_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The real test model's bytes; fails with instructions when it is absent.
pub fn real_model_bytes() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL_MODEL);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Get the test model with scripts/fetch-models.sh",
            path.display()
        )
    })
}

/// The GGUF type id and encoding of a metadata value.
pub fn encode_value(v: &MetaValue) -> (u32, Vec<u8>) {
    match v {
        MetaValue::U8(x) => (0, x.to_le_bytes().to_vec()),
        MetaValue::I8(x) => (1, x.to_le_bytes().to_vec()),
        MetaValue::U16(x) => (2, x.to_le_bytes().to_vec()),
        MetaValue::I16(x) => (3, x.to_le_bytes().to_vec()),
        MetaValue::U32(x) => (4, x.to_le_bytes().to_vec()),
        MetaValue::I32(x) => (5, x.to_le_bytes().to_vec()),
        MetaValue::F32(x) => (6, x.to_le_bytes().to_vec()),
        MetaValue::Bool(x) => (7, vec![*x as u8]),
        MetaValue::String(s) => (8, encode_string(s)),
        MetaValue::Array(items) => {
            let elem_type = items.first().map(|i| encode_value(i).0).unwrap_or(0);
            let mut out = elem_type.to_le_bytes().to_vec();
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                out.extend(encode_value(item).1);
            }
            (9, out)
        }
        MetaValue::Strings(items) => {
            let mut out = 8u32.to_le_bytes().to_vec();
            out.extend((items.len() as u64).to_le_bytes());
            for item in items.iter() {
                out.extend(encode_string(item));
            }
            (9, out)
        }
        MetaValue::I32s(items) => packed(5, items.iter().map(|x| x.to_le_bytes())),
        MetaValue::F32s(items) => packed(6, items.iter().map(|x| x.to_le_bytes())),
        MetaValue::U64(x) => (10, x.to_le_bytes().to_vec()),
        MetaValue::I64(x) => (11, x.to_le_bytes().to_vec()),
        MetaValue::F64(x) => (12, x.to_le_bytes().to_vec()),
    }
}

/// A GGUF array of `elem_type` from its encoded elements.
fn packed(elem_type: u32, items: impl ExactSizeIterator<Item = [u8; 4]>) -> (u32, Vec<u8>) {
    let mut out = elem_type.to_le_bytes().to_vec();
    out.extend((items.len() as u64).to_le_bytes());
    items.for_each(|b| out.extend(b));
    (9, out)
}

pub fn encode_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

pub struct GgufTensor {
    pub name: String,
    /// Innermost first, as GGUF stores it.
    pub ne: Vec<u64>,
    pub ggml_type: u32,
    pub data: Vec<u8>,
    /// Overrides the computed offset.
    pub offset: Option<u64>,
}

/// Writes GGUF files, including deliberately broken ones.
pub struct GgufBuilder {
    pub version: u32,
    pub magic: u32,
    /// Raw (type, bytes) values, so invalid encodings can be written too.
    pub kvs: Vec<(String, u32, Vec<u8>)>,
    pub tensors: Vec<GgufTensor>,
    pub alignment: u64,
    pub n_tensors_override: Option<u64>,
    pub n_kv_override: Option<u64>,
}

impl Default for GgufBuilder {
    fn default() -> Self {
        GgufBuilder {
            version: 3,
            magic: 0x4655_4747,
            kvs: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
            n_tensors_override: None,
            n_kv_override: None,
        }
    }
}

impl GgufBuilder {
    pub fn kv(mut self, key: &str, value: MetaValue) -> Self {
        let (t, bytes) = encode_value(&value);
        if key == "general.alignment" {
            if let MetaValue::U32(a) = value {
                self.alignment = a as u64;
            }
        }
        self.kvs.push((key.to_string(), t, bytes));
        self
    }

    pub fn raw_kv(mut self, key: &str, value_type: u32, bytes: Vec<u8>) -> Self {
        self.kvs.push((key.to_string(), value_type, bytes));
        self
    }

    /// A tensor with `shape` outermost first and the given ggml type and bytes.
    pub fn tensor(mut self, name: &str, shape: &[u64], ggml_type: u32, data: Vec<u8>) -> Self {
        self.tensors.push(GgufTensor {
            name: name.to_string(),
            ne: shape.iter().rev().copied().collect(),
            ggml_type,
            data,
            offset: None,
        });
        self
    }

    /// An F32 tensor filled with `seed`-derived values.
    pub fn f32_tensor(self, name: &str, shape: &[u64], seed: f32) -> Self {
        let n: u64 = shape.iter().product();
        let data = (0..n)
            .flat_map(|i| (seed + i as f32 * 0.5).to_le_bytes())
            .collect();
        self.tensor(name, shape, 0, data)
    }

    pub fn header_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(self.magic.to_le_bytes());
        out.extend(self.version.to_le_bytes());
        let n_tensors = self.n_tensors_override.unwrap_or(self.tensors.len() as u64);
        let n_kv = self.n_kv_override.unwrap_or(self.kvs.len() as u64);
        out.extend(n_tensors.to_le_bytes());
        out.extend(n_kv.to_le_bytes());
        for (key, t, bytes) in &self.kvs {
            out.extend(encode_string(key));
            out.extend(t.to_le_bytes());
            out.extend(bytes);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            out.extend(encode_string(&t.name));
            out.extend((t.ne.len() as u32).to_le_bytes());
            for d in &t.ne {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.ggml_type.to_le_bytes());
            let this_offset = t.offset.unwrap_or(offset);
            out.extend(this_offset.to_le_bytes());
            offset = (this_offset + t.data.len() as u64).next_multiple_of(self.alignment);
        }
        out
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = self.header_bytes();
        let data_start = (out.len() as u64).next_multiple_of(self.alignment) as usize;
        out.resize(data_start, 0);
        let mut offset = 0u64;
        for t in &self.tensors {
            let this_offset = t.offset.unwrap_or(offset);
            let start = data_start + this_offset as usize;
            if out.len() < start {
                out.resize(start, 0);
            }
            let end = start + t.data.len();
            if out.len() < end {
                out.resize(end, 0);
            }
            out[start..end].copy_from_slice(&t.data);
            offset = (this_offset + t.data.len() as u64).next_multiple_of(self.alignment);
        }
        out
    }
}

/// A tiny llama-arch model: 2 layers, dim 8, 2 heads / 1 KV head, FFN 16, vocab 4.
pub fn tiny_llama() -> GgufBuilder {
    let tokens = ["<s>", "</s>", "a", "b"]
        .iter()
        .map(|t| MetaValue::String(t.to_string()))
        .collect();
    let mut b = GgufBuilder::default()
        .kv("general.architecture", MetaValue::String("llama".into()))
        .kv("general.name", MetaValue::String("tiny".into()))
        .kv("llama.embedding_length", MetaValue::U32(8))
        .kv("llama.block_count", MetaValue::U32(2))
        .kv("llama.attention.head_count", MetaValue::U32(2))
        .kv("llama.attention.head_count_kv", MetaValue::U32(1))
        .kv("llama.feed_forward_length", MetaValue::U32(16))
        .kv("llama.context_length", MetaValue::U32(64))
        .kv("llama.rope.freq_base", MetaValue::F32(10000.0))
        .kv(
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        )
        .kv("tokenizer.ggml.tokens", MetaValue::Array(tokens))
        .f32_tensor("token_embd.weight", &[4, 8], 0.0);
    for l in 0..2 {
        let s = l as f32;
        b = b
            .f32_tensor(&format!("blk.{l}.attn_norm.weight"), &[8], s)
            .f32_tensor(&format!("blk.{l}.attn_q.weight"), &[8, 8], s + 1.0)
            .f32_tensor(&format!("blk.{l}.attn_k.weight"), &[4, 8], s + 2.0)
            .f32_tensor(&format!("blk.{l}.attn_v.weight"), &[4, 8], s + 3.0)
            .f32_tensor(&format!("blk.{l}.attn_output.weight"), &[8, 8], s + 4.0)
            .f32_tensor(&format!("blk.{l}.ffn_norm.weight"), &[8], s + 5.0)
            .f32_tensor(&format!("blk.{l}.ffn_gate.weight"), &[16, 8], s + 6.0)
            .f32_tensor(&format!("blk.{l}.ffn_up.weight"), &[16, 8], s + 7.0)
            .f32_tensor(&format!("blk.{l}.ffn_down.weight"), &[8, 16], s + 8.0);
    }
    b.f32_tensor("output_norm.weight", &[8], 9.0)
}

/// A one-layer llama whose rows are 256 wide, so that any block type fits; `ffn_up` has
/// ggml type `up_type` and `up_bytes` bytes, every other tensor is F32 zeros.
pub fn wide_llama(up_type: u32, up_bytes: usize) -> GgufBuilder {
    let zeros = |rows: usize| vec![0u8; rows * 256 * 4];
    let mut b = GgufBuilder::default()
        .kv("general.architecture", MetaValue::String("llama".into()))
        .kv("llama.embedding_length", MetaValue::U32(256))
        .kv("llama.block_count", MetaValue::U32(1))
        .kv("llama.attention.head_count", MetaValue::U32(1))
        .kv("llama.feed_forward_length", MetaValue::U32(256))
        .kv("llama.context_length", MetaValue::U32(64))
        .kv(
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        )
        .tensor("token_embd.weight", &[5, 256], 0, zeros(5))
        .tensor("output_norm.weight", &[256], 0, zeros(1))
        .tensor("blk.0.attn_norm.weight", &[256], 0, zeros(1))
        .tensor("blk.0.ffn_norm.weight", &[256], 0, zeros(1));
    for role in [
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_down",
    ] {
        b = b.tensor(&format!("blk.0.{role}.weight"), &[256, 256], 0, zeros(256));
    }
    b.tensor(
        "blk.0.ffn_up.weight",
        &[256, 256],
        up_type,
        vec![0; up_bytes],
    )
}

/// Adds a tiny byte-level BPE vocabulary (`<|endoftext|>`, `a`, `b`, `ab`, `Ġ`; "ab a"
/// encodes to 3 4 1) and a chat template.
pub fn with_tiny_tokenizer(b: GgufBuilder) -> GgufBuilder {
    let strings = |items: &[&str]| {
        MetaValue::Array(
            items
                .iter()
                .map(|s| MetaValue::String((*s).into()))
                .collect(),
        )
    };
    b.kv("tokenizer.ggml.model", MetaValue::String("gpt2".into()))
        .kv("tokenizer.ggml.pre", MetaValue::String("gpt-2".into()))
        .kv(
            "tokenizer.ggml.tokens",
            strings(&["<|endoftext|>", "a", "b", "ab", "Ġ"]),
        )
        .kv(
            "tokenizer.ggml.token_type",
            MetaValue::Array([3, 1, 1, 1, 1].into_iter().map(MetaValue::I32).collect()),
        )
        .kv("tokenizer.ggml.merges", strings(&["a b"]))
        .kv("tokenizer.ggml.eos_token_id", MetaValue::U32(0))
        .kv(
            "tokenizer.chat_template",
            MetaValue::String("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
        )
}

/// One safetensors entry: HF name, dtype string, shape, raw bytes.
pub type StEntry = (String, String, Vec<u64>, Vec<u8>);

/// A safetensors file from entries laid out in order.
pub fn safetensors_bytes(entries: &[StEntry]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut offset = 0usize;
    for (name, dtype, shape, data) in entries {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape,
                "data_offsets": [offset, offset + data.len()]}),
        );
        offset += data.len();
    }
    safetensors_with_header(&serde_json::Value::Object(header).to_string(), entries)
}

/// A safetensors file with a hand-written JSON header.
pub fn safetensors_with_header(header: &str, entries: &[StEntry]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    for (_, _, _, data) in entries {
        out.extend(data);
    }
    out
}

pub fn f32_entry(name: &str, shape: &[u64], seed: f32) -> StEntry {
    let n: u64 = shape.iter().product();
    let data = (0..n)
        .flat_map(|i| (seed + i as f32 * 0.25).to_le_bytes())
        .collect();
    (name.to_string(), "F32".to_string(), shape.to_vec(), data)
}

/// The Hugging Face twin of `tiny_llama()`'s shapes (untied: it has an lm_head).
pub fn tiny_hf_entries() -> Vec<StEntry> {
    let mut e = vec![f32_entry("model.embed_tokens.weight", &[4, 8], 0.0)];
    for l in 0..2 {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        let s = l as f32;
        e.push(f32_entry(&p("input_layernorm.weight"), &[8], s));
        e.push(f32_entry(&p("self_attn.q_proj.weight"), &[8, 8], s + 1.0));
        e.push(f32_entry(&p("self_attn.k_proj.weight"), &[4, 8], s + 2.0));
        e.push(f32_entry(&p("self_attn.v_proj.weight"), &[4, 8], s + 3.0));
        e.push(f32_entry(&p("self_attn.o_proj.weight"), &[8, 8], s + 4.0));
        e.push(f32_entry(&p("self_attn.rotary_emb.inv_freq"), &[2], 0.0));
        e.push(f32_entry(
            &p("post_attention_layernorm.weight"),
            &[8],
            s + 5.0,
        ));
        e.push(f32_entry(&p("mlp.gate_proj.weight"), &[16, 8], s + 6.0));
        e.push(f32_entry(&p("mlp.up_proj.weight"), &[16, 8], s + 7.0));
        e.push(f32_entry(&p("mlp.down_proj.weight"), &[8, 16], s + 8.0));
    }
    e.push(f32_entry("model.norm.weight", &[8], 9.0));
    e.push(f32_entry("lm_head.weight", &[4, 8], 10.0));
    e
}

pub const TINY_HF_CONFIG: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 2,
  "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 4,
  "tie_word_embeddings": false, "torch_dtype": "float32", "rope_scaling": null
}"#;

pub const TINY_TOKENIZER_CONFIG: &str = r#"{
  "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
  "bos_token": {"content": "<s>", "lstrip": false},
  "eos_token": "</s>"
}"#;

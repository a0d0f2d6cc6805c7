//! Text ↔ token ids. A [`Tokenizer`] wraps a Hugging Face `tokenizers::Tokenizer`, built
//! either from a `tokenizer.json` or from the vocabulary a GGUF file carries, and adds
//! what the engine needs around it: the special ids it stops on, and a byte table for
//! incremental detokenization ([`Detokenizer`]) that never splits a character.

mod detokenize;
mod gguf;
mod token_table;

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::error::{Error, Result};
use crate::formats::Metadata;

pub use crate::formats::hf::HfTokenizerConfig;
pub use detokenize::Detokenizer;
use token_table::{PieceSpelling, TokenTable};

/// Names of end-of-turn tokens, most specific first: the first present is `eot_id()`
/// when the model file does not name one.
const END_OF_TURN_NAMES: &[&str] = &["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"];

/// Special tokens that end generation when a model emits them (as llama.cpp's
/// end-of-generation set does), besides EOS and EOT.
const END_OF_GENERATION_NAMES: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
];

const BOS_NAMES: &[&str] = &["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"];
const EOS_NAMES: &[&str] = &["</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>"];

/// Ids the engine treats specially.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    /// Whether the model expects BOS in front of a prompt (callers add it).
    pub add_bos: bool,
}

#[derive(Debug)]
pub struct Tokenizer {
    /// The one tokenizer; whether it splits special tokens such as `<|im_start|>` out of
    /// the text (chat prompts) or reads their text as plain text (raw prompts, perplexity)
    /// is set per call. One copy, not one per mode: a 262k-token vocabulary's tokenizer
    /// takes tens of MB, which a browser tab's wasm memory keeps for good.
    inner: Mutex<tokenizers::Tokenizer>,
    table: Arc<TokenTable>,
    ids: SpecialIds,
    stop_ids: Vec<u32>,
}

fn hf_error(context: &str) -> impl Fn(tokenizers::Error) -> Error + '_ {
    move |e| Error::Tokenizer(format!("{context}: {e}"))
}

impl Tokenizer {
    /// A Hugging Face `tokenizer.json`. BOS and EOS are guessed from common token names;
    /// use [`Tokenizer::from_hf`] to take them from `tokenizer_config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Self::from_hf(bytes, None)
    }

    /// A Hugging Face `tokenizer.json` plus, when present, its `tokenizer_config.json`.
    pub fn from_hf(tokenizer_json: &[u8], config: Option<&HfTokenizerConfig>) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(tokenizer_json)
            .map_err(hf_error("tokenizer.json"))?;
        let lookup = |name: &str, key: &str| -> Result<u32> {
            inner.token_to_id(name).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "tokenizer_config.json: {key} '{name}' is not in the vocabulary"
                ))
            })
        };
        let guess = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        let bos = match config.and_then(|c| c.bos_token.as_deref()) {
            Some(name) => Some(lookup(name, "bos_token")?),
            None => guess(BOS_NAMES),
        };
        let eos = match config.and_then(|c| c.eos_token.as_deref()) {
            Some(name) => Some(lookup(name, "eos_token")?),
            None => guess(EOS_NAMES),
        };
        let ids = SpecialIds {
            bos,
            eos,
            eot: None,
            add_bos: config.and_then(|c| c.add_bos_token).unwrap_or(false),
        };
        let (spelling, strip_leading_space) = spelling_of_decoder(&inner)?;
        Self::assemble(inner, spelling, strip_leading_space, ids, None)
    }

    /// The tokenizer a GGUF file describes under `tokenizer.ggml.*`.
    pub fn from_gguf(metadata: &Metadata) -> Result<Self> {
        gguf::build(metadata)
    }

    /// Puts the parts together and derives the byte table, EOT and the stop ids. `n_ids`:
    /// the size of the id space when the caller knows it (a GGUF vocabulary is ids
    /// `0..n`); otherwise it is read from the vocabulary.
    pub(crate) fn assemble(
        inner: tokenizers::Tokenizer,
        spelling: PieceSpelling,
        strip_leading_space: bool,
        mut ids: SpecialIds,
        n_ids: Option<u32>,
    ) -> Result<Self> {
        let n_ids = match n_ids {
            Some(n) => n,
            None => id_space(&inner)?,
        };
        let added = inner.get_added_tokens_decoder();
        // One piece at a time: a copy of the whole vocabulary would be tens of MB of
        // wasm memory, which never shrinks.
        let pieces = (0..n_ids).map(|id| {
            let special = added.get(&id).is_some_and(|t| t.special);
            (inner.id_to_token(id), special)
        });
        let table = TokenTable::build(pieces, spelling, strip_leading_space);
        for (what, id) in [("BOS", ids.bos), ("EOS", ids.eos), ("EOT", ids.eot)] {
            if let Some(id) = id.filter(|id| *id >= n_ids) {
                return Err(Error::Tokenizer(format!(
                    "{what} id {id} is outside the vocabulary of {n_ids} tokens"
                )));
            }
        }
        if ids.eot.is_none() {
            ids.eot = END_OF_TURN_NAMES
                .iter()
                .find_map(|name| inner.token_to_id(name));
        }
        let mut stop_ids: Vec<u32> = [ids.eos, ids.eot].into_iter().flatten().collect();
        for name in END_OF_GENERATION_NAMES {
            if let Some(id) = inner.token_to_id(name) {
                if table.is_special(id) && !stop_ids.contains(&id) {
                    stop_ids.push(id);
                }
            }
        }
        Ok(Tokenizer {
            inner: Mutex::new(inner),
            table: Arc::new(table),
            ids,
            stop_ids,
        })
    }

    /// A `tokenizer.json` that Hugging Face tokenizers (and [`Tokenizer::from_json`]) load.
    pub fn to_json(&self) -> Result<String> {
        self.with_inner(|t| t.to_string(false))
            .map_err(hf_error("serializing tokenizer.json"))
    }

    /// A `tokenizer_config.json` naming BOS/EOS and, when given, the chat template, so
    /// that [`Tokenizer::from_hf`] restores the special ids.
    pub fn to_config_json(&self, chat_template: Option<&str>) -> String {
        let name = |id: Option<u32>| id.and_then(|id| self.id_to_token(id));
        json!({
            "bos_token": name(self.ids.bos),
            "eos_token": name(self.ids.eos),
            "add_bos_token": self.ids.add_bos,
            "chat_template": chat_template,
        })
        .to_string()
    }

    /// Token ids of `text`. Never adds BOS (callers add it, see [`Tokenizer::add_bos`]).
    /// With `parse_special`, special tokens written in the text (`<|im_start|>`) become
    /// their ids, as in a rendered chat prompt; without, they are tokenized as plain text.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let encoding = self
            .with_inner(|t| {
                t.set_encode_special_tokens(!parse_special);
                t.encode_fast(text, false)
            })
            .map_err(hf_error("encoding"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, leaving out special tokens. An id outside the vocabulary is an
    /// error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(bad) = ids.iter().find(|id| self.table.bytes(**id).is_none()) {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the vocabulary of {} tokens",
                self.vocab_size()
            )));
        }
        self.with_inner(|t| t.decode(ids, true))
            .map_err(hf_error("decoding"))
    }

    /// A streaming decoder for generated ids.
    pub fn detokenizer(&self) -> Detokenizer {
        Detokenizer::new(Arc::clone(&self.table))
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.ids.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.ids.eos
    }

    /// The end-of-turn token of chat models (`<|im_end|>`, `<|eot_id|>`, ...).
    pub fn eot_id(&self) -> Option<u32> {
        self.ids.eot
    }

    /// Whether the model expects BOS in front of a raw prompt.
    pub fn add_bos(&self) -> bool {
        self.ids.add_bos
    }

    /// Every id that ends generation: EOS, EOT and the model's other end-of-text specials.
    /// Every token's bytes, for grammars that mask tokens by the text they would add:
    /// a special token is its text after a 0xFF byte, which no text contains, so it is
    /// never taken for text.
    pub fn token_bytes_marking_special(&self) -> Vec<Vec<u8>> {
        (0..self.table.len() as u32)
            .map(|id| {
                let bytes = self.table.bytes(id).unwrap_or_default();
                if self.table.is_special(id) {
                    [&[0xff], bytes].concat()
                } else {
                    bytes.to_vec()
                }
            })
            .collect()
    }

    pub fn stop_ids(&self) -> Vec<u32> {
        self.stop_ids.clone()
    }

    /// Number of ids (one past the largest).
    pub fn vocab_size(&self) -> usize {
        self.table.len()
    }

    /// The raw bytes of a token (for a special token: its text).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.table.bytes(id)
    }

    /// The vocabulary's string for `id` (`Ġthe`, `▁the`, `<|im_end|>`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.with_inner(|t| t.id_to_token(id))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.with_inner(|t| t.token_to_id(token))
    }

    /// Runs `f` on the tokenizer. A panic in an earlier call leaves nothing half-changed
    /// that matters here (the mode is set by every call), so a poisoned lock is reused.
    fn with_inner<R>(&self, f: impl FnOnce(&mut tokenizers::Tokenizer) -> R) -> R {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Control tokens: never printed, parsed from text only in chat prompts.
    pub fn is_special(&self, id: u32) -> bool {
        self.table.is_special(id)
    }
}

/// How a `tokenizer.json`'s decoder turns vocabulary strings into bytes, and whether it
/// drops the first space of the output.
fn spelling_of_decoder(inner: &tokenizers::Tokenizer) -> Result<(PieceSpelling, bool)> {
    let decoder = serde_json::to_value(inner.get_decoder())
        .map_err(|e| Error::Tokenizer(format!("tokenizer.json decoder: {e}")))?;
    let steps: Vec<&serde_json::Value> = match decoder.get("decoders") {
        Some(serde_json::Value::Array(steps)) => steps.iter().collect(),
        _ => vec![&decoder],
    };
    let kind =
        |step: &serde_json::Value| step.get("type").and_then(|t| t.as_str()).map(str::to_owned);
    let mut spelling = PieceSpelling::Plain;
    let mut strip = false;
    for step in steps {
        match kind(step).as_deref() {
            Some("ByteLevel") => spelling = PieceSpelling::ByteLevel,
            Some("ByteFallback") | Some("Replace") => spelling = PieceSpelling::SentencePiece,
            Some("Metaspace") => {
                spelling = PieceSpelling::SentencePiece;
                let scheme = step.get("prepend_scheme").and_then(|s| s.as_str());
                strip |= scheme != Some("never");
            }
            Some("Strip") => {
                let content = step.get("content").and_then(|c| c.as_str());
                let start = step.get("start").and_then(|s| s.as_u64());
                strip |= content == Some(" ") && start.is_some_and(|s| s >= 1);
            }
            _ => {}
        }
    }
    Ok((spelling, strip))
}

/// The ids a vocabulary uses: its largest id + 1, checked against its size (the byte
/// table has a slot per id: ids far beyond the number of tokens would make it allocate
/// for tokens that do not exist).
fn id_space(inner: &tokenizers::Tokenizer) -> Result<u32> {
    let vocab = inner.get_vocab(true);
    let n_ids = vocab.values().max().map_or(0, |max| max.saturating_add(1));
    let n_tokens = vocab.len();
    if usize::try_from(n_ids).map_or(true, |n| n > n_tokens.saturating_mul(2).max(1024)) {
        return Err(Error::Tokenizer(format!(
            "token ids go up to {} but there are only {n_tokens} tokens",
            n_ids.saturating_sub(1)
        )));
    }
    Ok(n_ids)
}

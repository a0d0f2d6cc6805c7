//! Builds a tokenizer from the vocabulary in GGUF metadata (`tokenizer.ggml.*`), the way
//! llama.cpp reads it:
//! - `gpt2`: byte-level BPE from `tokens` + `merges`; the text is first split by the
//!   regexes llama.cpp lists for the `pre` name (llama-vocab.cpp), each split keeping both
//!   the matches and the text between them.
//! - `llama`: SentencePiece-style BPE with byte fallback (`<0xXX>` tokens); merges are
//!   derived from `scores`: llama.cpp repeatedly joins the adjacent pair whose joined
//!   piece has the highest score, which is BPE with merges ranked by that score.
//!
//! Token types (`token_type`): 2 unknown and 3 control become special added tokens, 4
//! user-defined becomes a plain added token, so each is matched as one token.

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::token_table::PieceSpelling;
use super::{SpecialIds, Tokenizer};
use crate::error::{Error, Result};
use crate::formats::Metadata;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_SCORES: &str = "tokenizer.ggml.scores";

/// llama.cpp's token types (`llama_token_type`).
const TYPE_UNKNOWN: i64 = 2;
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;
const TYPE_BYTE: i64 = 6;

/// GPT-2's split: contractions, letters, numbers, other symbols, spaces.
const GPT2_SPLIT: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's split: case-insensitive contractions, numbers in groups of up to three.
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: as Llama 3's, but every digit alone.
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The regexes llama.cpp applies in turn for a `tokenizer.ggml.pre` name.
fn pre_tokenizer_regexes(pre: &str) -> Option<Vec<&'static str>> {
    Some(match pre {
        "gpt-2" | "gpt2" | "mpt" | "olmo" | "jais" => vec![GPT2_SPLIT],
        // Digits split one by one before the GPT-2 split (SmolLM2, StarCoder).
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            vec![r"\p{N}", GPT2_SPLIT]
        }
        "llama-bpe" | "llama3" | "dbrx" | "smaug-bpe" | "chatglm-bpe" => vec![LLAMA3_SPLIT],
        "qwen2" | "stablelm2" => vec![QWEN2_SPLIT],
        // Qwen 3.5: as Qwen2's, with combining marks inside words.
        "qwen35" => vec![
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        "falcon" => vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2_SPLIT, "[0-9][0-9][0-9]"],
        "deepseek-coder" => vec![
            r"[\r\n]",
            r"\s?\p{L}+",
            r"\s?\p{P}+",
            "[一-龥ࠀ-一가-퟿]+",
            r"\p{N}",
        ],
        "deepseek-llm" => vec![
            r"[\r\n]",
            r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
            r"\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            r"\p{N}+",
        ],
        "default" => vec![
            r"[\p{P}\$\+<=>\^~\|]+",
            GPT2_SPLIT,
            r"\p{N}+",
            "[0-9][0-9][0-9]",
        ],
        _ => return None,
    })
}

pub(super) fn build(meta: &Metadata) -> Result<Tokenizer> {
    let model = meta.str(KEY_MODEL)?;
    let tokens = meta.str_array(KEY_TOKENS)?;
    if u32::try_from(tokens.len()).is_err() {
        return Err(Error::Tokenizer(format!(
            "{KEY_TOKENS} has {} entries, more than token ids can count",
            tokens.len()
        )));
    }
    let types = token_types(meta, tokens.len())?;
    let mut ids = SpecialIds {
        bos: special_id(meta, "tokenizer.ggml.bos_token_id")?,
        eos: special_id(meta, "tokenizer.ggml.eos_token_id")?,
        eot: special_id(meta, "tokenizer.ggml.eot_token_id")?,
        add_bos: false,
    };
    let (inner, spelling, strip_leading_space) = match model {
        "gpt2" => {
            // llama.cpp's default when the key is absent: only Llama 3 wants BOS.
            let llama3 = matches!(meta.opt_str(KEY_PRE)?, Some("llama-bpe" | "llama3"));
            ids.add_bos = meta
                .opt_bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(llama3);
            (
                byte_level_bpe(meta, &tokens, &types)?,
                PieceSpelling::ByteLevel,
                false,
            )
        }
        "llama" => {
            ids.add_bos = meta
                .opt_bool("tokenizer.ggml.add_bos_token")?
                .unwrap_or(true);
            let add_space_prefix = meta
                .opt_bool("tokenizer.ggml.add_space_prefix")?
                .unwrap_or(true);
            let inner = sentencepiece_bpe(meta, &tokens, &types, add_space_prefix)?;
            (inner, PieceSpelling::SentencePiece, add_space_prefix)
        }
        other => {
            return Err(Error::Tokenizer(format!(
                "unsupported tokenizer model '{other}' in {KEY_MODEL} (supported: gpt2, llama)"
            )))
        }
    };
    // `tokens` was checked to fit u32 ids; added tokens are among them.
    let n_ids = u32::try_from(tokens.len()).ok();
    Tokenizer::assemble(inner, spelling, strip_leading_space, ids, n_ids)
}

/// `token_type`, one per token; all normal when absent.
fn token_types(meta: &Metadata, n_tokens: usize) -> Result<Vec<i64>> {
    if !meta.contains(KEY_TYPES) {
        return Ok(vec![1; n_tokens]);
    }
    let types = meta.i64_array(KEY_TYPES)?;
    if types.len() != n_tokens {
        return Err(Error::Tokenizer(format!(
            "{KEY_TYPES} has {} entries but {KEY_TOKENS} has {n_tokens}",
            types.len()
        )));
    }
    Ok(types)
}

fn special_id(meta: &Metadata, key: &str) -> Result<Option<u32>> {
    meta.opt_u64(key)?
        .map(|id| {
            u32::try_from(id)
                .map_err(|_| Error::Tokenizer(format!("{key} = {id} is not a token id")))
        })
        .transpose()
}

/// token → id, keeping the first id of a string listed twice (later copies can still be
/// decoded, never produced by encoding).
fn vocab_map(tokens: &[&str]) -> Vocab {
    let mut vocab = Vocab::default();
    vocab.reserve(tokens.len());
    for (id, token) in (0u32..).zip(tokens) {
        vocab.entry((*token).to_string()).or_insert(id);
    }
    vocab
}

fn tokenizer_error(context: &'static str) -> impl Fn(tokenizers::Error) -> Error {
    move |e| Error::Tokenizer(format!("{context}: {e}"))
}

fn byte_level_bpe(
    meta: &Metadata,
    tokens: &[&str],
    types: &[i64],
) -> Result<tokenizers::Tokenizer> {
    let pre = meta.opt_str(KEY_PRE)?.unwrap_or("default");
    let regexes = pre_tokenizer_regexes(pre).ok_or_else(|| {
        Error::Tokenizer(format!("unsupported pre-tokenizer '{pre}' in {KEY_PRE}"))
    })?;
    let vocab = vocab_map(tokens);
    let merges = meta
        .str_array(KEY_MERGES)?
        .into_iter()
        .enumerate()
        .map(|(i, merge)| parse_merge(i, merge, &vocab))
        .collect::<Result<Vec<_>>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        // Llama 3 looks a whole word up in the vocabulary before merging.
        .ignore_merges(matches!(pre, "llama-bpe" | "llama3"))
        .build()
        .map_err(tokenizer_error("building the BPE model"))?;

    let mut steps = Vec::with_capacity(regexes.len() + 1);
    for regex in regexes {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tokenizer_error("compiling a pre-tokenizer regex"))?;
        steps.push(split.into());
    }
    // The regexes already split the text; ByteLevel only maps bytes to its characters.
    steps.push(ByteLevel::new(false, false, false).into());

    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(PreTokenizerSequence::new(steps)));
    inner.with_decoder(Some(ByteLevel::new(false, false, false)));
    add_typed_tokens(&mut inner, meta, tokens, types)?;
    Ok(inner)
}

/// `"Ġ t"` → ("Ġ", "t"), both halves and their join in the vocabulary.
fn parse_merge(index: usize, merge: &str, vocab: &Vocab) -> Result<(String, String)> {
    let (left, right) = merge.split_once(' ').ok_or_else(|| {
        Error::Tokenizer(format!(
            "{KEY_MERGES}[{index}] = '{merge}' is not two tokens separated by a space"
        ))
    })?;
    for part in [left, right, &format!("{left}{right}")] {
        if !vocab.contains_key(part) {
            return Err(Error::Tokenizer(format!(
                "{KEY_MERGES}[{index}] = '{merge}' refers to '{part}', which is not a token"
            )));
        }
    }
    Ok((left.to_string(), right.to_string()))
}

fn sentencepiece_bpe(
    meta: &Metadata,
    tokens: &[&str],
    types: &[i64],
    add_space_prefix: bool,
) -> Result<tokenizers::Tokenizer> {
    let scores = meta.f64_array(KEY_SCORES)?;
    if scores.len() != tokens.len() {
        return Err(Error::Tokenizer(format!(
            "{KEY_SCORES} has {} entries but {KEY_TOKENS} has {}",
            scores.len(),
            tokens.len()
        )));
    }
    let vocab = vocab_map(tokens);
    let merges = merges_from_scores(tokens, types, &scores, &vocab);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true);
    if let Some(unk) = special_id(meta, "tokenizer.ggml.unknown_token_id")? {
        let unk = usize::try_from(unk)
            .ok()
            .and_then(|i| tokens.get(i))
            .ok_or_else(|| Error::Tokenizer(format!("unknown-token id {unk} is not a token")))?;
        builder = builder.unk_token((*unk).to_string());
    }
    let bpe = builder
        .build()
        .map_err(tokenizer_error("building the BPE model"))?;

    let mut inner = tokenizers::Tokenizer::new(bpe);
    let space_to_meta = Replace::new(" ", "▁").map_err(tokenizer_error("normalizer"))?;
    if add_space_prefix {
        inner
            .with_normalizer(Some(NormalizerSequence::new(vec![
                Prepend::new("▁".into()).into(),
                space_to_meta.into(),
            ])))
            .map_err(tokenizer_error("normalizer"))?;
    } else {
        inner
            .with_normalizer(Some(space_to_meta))
            .map_err(tokenizer_error("normalizer"))?;
    }
    let meta_to_space = Replace::new("▁", " ").map_err(tokenizer_error("decoder"))?;
    let mut decoders = vec![
        meta_to_space.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    inner.with_decoder(Some(DecoderSequence::new(decoders)));
    add_typed_tokens(&mut inner, meta, tokens, types)?;
    Ok(inner)
}

/// Longest piece (in bytes) that merges are derived for.
const MAX_MERGED_PIECE: usize = 1024;

/// Every way to write a normal token as two tokens, ranked by the joined token's score
/// (highest first; ties by id, so the ranking is deterministic).
fn merges_from_scores(
    tokens: &[&str],
    types: &[i64],
    scores: &[f64],
    vocab: &Vocab,
) -> Vec<(String, String)> {
    // (score, merged id, left id, split byte): 24 bytes an entry, strings made only for
    // the sorted list (a 262k-token vocabulary has ~500k merges).
    let mut ranked: Vec<(f64, u32, u32, u32)> = Vec::new();
    for ((id, token), (&kind, &score)) in (0u32..).zip(tokens).zip(types.iter().zip(scores)) {
        // Trying every split costs the square of a token's length; SentencePiece pieces
        // are a few dozen bytes, so a giant one is not worth a quadratic scan.
        if matches!(kind, TYPE_CONTROL | TYPE_UNKNOWN | TYPE_BYTE) || token.len() > MAX_MERGED_PIECE
        {
            continue;
        }
        for (split, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(split);
            if let (Some(&left_id), true) = (vocab.get(left), vocab.contains_key(right)) {
                // `split` < MAX_MERGED_PIECE, so it fits.
                ranked.push((score, id, left_id, split as u32));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    ranked
        .into_iter()
        .map(|(_, id, _, split)| {
            let (left, right) = tokens[id as usize].split_at(split as usize);
            (left.to_string(), right.to_string())
        })
        .collect()
}

/// Control and unknown tokens become special added tokens (matched in text only when
/// special tokens are parsed, never printed); user-defined tokens become plain added
/// tokens (always matched). Both match the raw text, not its normalized form.
///
/// Phi-3's files (llama.cpp knows them by `general.name`) take the whitespace after a
/// special token into the token, as their Hugging Face tokenizer's `rstrip` does — except
/// after `<unk>`, `<s>` and `<|endoftext|>`.
fn add_typed_tokens(
    inner: &mut tokenizers::Tokenizer,
    meta: &Metadata,
    tokens: &[&str],
    types: &[i64],
) -> Result<()> {
    let name = meta.opt_str("general.name")?.unwrap_or("").to_lowercase();
    let phi3 = name.contains("phi-3") || name.contains("phi3");
    let rstrip = |token: &str| phi3 && !matches!(token, "<unk>" | "<s>" | "<|endoftext|>");
    let mut special = Vec::new();
    let mut user_defined = Vec::new();
    for (token, &kind) in tokens.iter().zip(types) {
        if token.is_empty() {
            continue;
        }
        match kind {
            TYPE_CONTROL | TYPE_UNKNOWN => special.push(
                AddedToken::from(*token, true)
                    .normalized(false)
                    .rstrip(rstrip(token)),
            ),
            TYPE_USER_DEFINED => user_defined.push(
                AddedToken::from(*token, false)
                    .normalized(false)
                    .rstrip(rstrip(token)),
            ),
            _ => {}
        }
    }
    inner
        .add_special_tokens(special)
        .map_err(tokenizer_error("adding control tokens"))?;
    inner
        .add_tokens(user_defined)
        .map_err(tokenizer_error("adding user-defined tokens"))?;
    Ok(())
}

//! The tokenizer built from the real model's GGUF metadata against llama.cpp's token ids
//! (tests/fixtures/smollm2-135m-q4_1.json), the incremental detokenizer against `decode`,
//! and typed errors for bad tokenizer inputs.

use std::path::PathBuf;
use std::sync::OnceLock;

use hearth::formats::gguf::read_gguf_header;
use hearth::formats::{MetaValue, Metadata};
use hearth::tokenizer::{HfTokenizerConfig, Tokenizer};
use hearth::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    tokenize: Vec<TokenizeCase>,
    chat: Vec<ChatCase>,
    raw: Vec<RawCase>,
}

#[derive(Deserialize)]
struct TokenizeCase {
    text: String,
    ids: Vec<u32>,
    roundtrip: String,
}

#[derive(Deserialize)]
struct ChatCase {
    prompt: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    greedy_text: String,
}

#[derive(Deserialize)]
struct RawCase {
    prompt: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
}

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture() -> Fixture {
    let path = manifest_path("tests/fixtures/smollm2-135m-q4_1.json");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("fixture JSON parses")
}

fn model_metadata() -> &'static Metadata {
    static METADATA: OnceLock<Metadata> = OnceLock::new();
    METADATA.get_or_init(|| {
        let path = manifest_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            path.exists(),
            "the test model {} is missing: run scripts/fetch-models.sh",
            path.display()
        );
        read_gguf_header(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .metadata
    })
}

fn gguf_tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::from_gguf(model_metadata()).expect("GGUF tokenizer builds"))
}

/// Every piece of text whose ids the fixture knows, with whether specials are parsed.
fn all_cases(fixture: &Fixture) -> Vec<(String, Vec<u32>, bool)> {
    let mut cases = Vec::new();
    for case in &fixture.tokenize {
        cases.push((case.text.clone(), case.ids.clone(), true));
    }
    for case in &fixture.chat {
        cases.push((case.prompt.clone(), case.prompt_ids.clone(), true));
    }
    for case in &fixture.raw {
        cases.push((case.prompt.clone(), case.prompt_ids.clone(), false));
    }
    cases
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
    assert_send_sync::<hearth::tokenizer::Detokenizer>();
}

#[test]
fn special_ids_of_the_test_model() {
    let tok = gguf_tokenizer();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.eot_id(), Some(2), "<|im_end|> ends a turn");
    assert!(!tok.add_bos());
    let stops = tok.stop_ids();
    assert!(stops.contains(&2) && stops.contains(&0), "stops: {stops:?}");
    assert!(tok.is_special(1) && tok.is_special(2));
    assert!(!tok.is_special(19556));
    assert_eq!(tok.token_bytes(216), Some(&b" "[..]));
    assert_eq!(tok.token_bytes(198), Some(&b"\n"[..]));
    assert_eq!(tok.token_bytes(1), Some(&b"<|im_start|>"[..]));
    assert_eq!(tok.token_bytes(49152), None);
}

#[test]
fn tokenize_cases_match_llama_cpp() {
    let tok = gguf_tokenizer();
    for case in fixture().tokenize {
        let ids = tok.encode(&case.text, true).unwrap();
        assert_eq!(ids, case.ids, "ids of {:?}", case.text);
        assert_eq!(
            tok.decode(&ids).unwrap(),
            case.roundtrip,
            "decode of {:?}",
            case.text
        );
    }
}

#[test]
fn chat_prompts_parse_special_tokens() {
    let tok = gguf_tokenizer();
    for case in fixture().chat {
        assert_eq!(
            tok.encode(&case.prompt, true).unwrap(),
            case.prompt_ids,
            "{:?}",
            case.prompt
        );
        assert_eq!(tok.decode(&case.greedy_ids).unwrap(), case.greedy_text);
    }
}

#[test]
fn raw_prompts_do_not_parse_special_tokens() {
    let tok = gguf_tokenizer();
    for case in fixture().raw {
        assert_eq!(
            tok.encode(&case.prompt, false).unwrap(),
            case.prompt_ids,
            "{:?}",
            case.prompt
        );
    }
    // As plain text, `<|im_start|>` is several ordinary tokens.
    let literal = tok.encode("<|im_start|>user", false).unwrap();
    assert!(literal.len() > 2, "{literal:?}");
    assert!(literal.iter().all(|id| !tok.is_special(*id)), "{literal:?}");
    assert_eq!(tok.decode(&literal).unwrap(), "<|im_start|>user");
    assert_eq!(tok.encode("<|im_start|>user", true).unwrap(), vec![1, 4093]);
}

#[test]
fn survives_json_round_trip() {
    let tok = gguf_tokenizer();
    let json = tok.to_json().unwrap();
    let config = HfTokenizerConfig::parse(tok.to_config_json(None).as_bytes()).unwrap();
    let reloaded = Tokenizer::from_hf(json.as_bytes(), Some(&config)).unwrap();
    assert_eq!(reloaded.vocab_size(), tok.vocab_size());
    assert_eq!(reloaded.bos_id(), Some(1));
    assert_eq!(reloaded.eos_id(), Some(2));
    assert_eq!(reloaded.eot_id(), Some(2));
    let fixture = fixture();
    for (text, ids, parse_special) in all_cases(&fixture) {
        assert_eq!(
            reloaded.encode(&text, parse_special).unwrap(),
            ids,
            "{text:?}"
        );
    }
    for case in &fixture.tokenize {
        assert_eq!(reloaded.decode(&case.ids).unwrap(), case.roundtrip);
    }
    for id in 0..tok.vocab_size() as u32 {
        assert_eq!(
            reloaded.token_bytes(id),
            tok.token_bytes(id),
            "bytes of token {id}"
        );
        assert_eq!(
            reloaded.is_special(id),
            tok.is_special(id),
            "specialness of {id}"
        );
    }
}

/// Pushing ids one by one gives exactly `decode` of all of them, and no push ever returns
/// part of a character (a partial character would show up as U+FFFD, which none of these
/// texts contain).
#[test]
fn detokenizer_streams_whole_characters() {
    let tok = gguf_tokenizer();
    let fixture = fixture();
    let mut streams: Vec<Vec<u32>> = all_cases(&fixture).into_iter().map(|c| c.1).collect();
    streams.extend(fixture.chat.iter().map(|c| c.greedy_ids.clone()));
    streams.extend(fixture.raw.iter().map(|c| c.greedy_ids.clone()));
    let mut split_characters = 0;
    for ids in streams {
        let expected = tok.decode(&ids).unwrap();
        assert!(!expected.contains('\u{FFFD}'));
        let mut detok = tok.detokenizer();
        let mut streamed = String::new();
        for &id in &ids {
            let piece = detok.push(id);
            assert!(!piece.contains('\u{FFFD}'), "partial character from {id}");
            if piece.is_empty() && detok.has_pending() {
                split_characters += 1;
            }
            streamed.push_str(&piece);
        }
        streamed.push_str(&detok.flush());
        assert_eq!(streamed, expected, "ids {ids:?}");
    }
    assert!(
        split_characters >= 4,
        "the Chinese and emoji cases split characters"
    );
}

#[test]
fn detokenizer_marks_an_unfinished_character_at_the_end() {
    let tok = gguf_tokenizer();
    // 🦀 is F0 9F A6 80; the fixture's first two ids hold its first three bytes and a space.
    let ids = tok.encode("🦀", true).unwrap();
    assert!(ids.len() >= 2, "{ids:?}");
    let mut detok = tok.detokenizer();
    let first = detok.push(ids[0]);
    assert_eq!(first, "");
    assert!(detok.has_pending());
    assert_eq!(detok.flush(), "\u{FFFD}");
    assert_eq!(tok.decode(&ids[..1]).unwrap(), "\u{FFFD}");
}

#[test]
fn decode_rejects_ids_outside_the_vocabulary() {
    let err = gguf_tokenizer().decode(&[19556, 49152]).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("49152")),
        "{err}"
    );
    // Streaming output simply has nothing for such an id.
    assert_eq!(gguf_tokenizer().detokenizer().push(u32::MAX), "");
}

// ---- bad inputs -------------------------------------------------------------------------

fn strings(items: &[&str]) -> MetaValue {
    MetaValue::Array(
        items
            .iter()
            .map(|s| MetaValue::String((*s).into()))
            .collect(),
    )
}

/// A tiny byte-level vocabulary: `a`, `b`, `ab`, and one control token.
fn tiny_gpt2() -> Metadata {
    let mut meta = Metadata::default();
    meta.insert("tokenizer.ggml.model", MetaValue::String("gpt2".into()));
    meta.insert("tokenizer.ggml.pre", MetaValue::String("gpt-2".into()));
    meta.insert(
        "tokenizer.ggml.tokens",
        strings(&["<|endoftext|>", "a", "b", "ab", "Ġ"]),
    );
    meta.insert(
        "tokenizer.ggml.token_type",
        MetaValue::Array([3, 1, 1, 1, 1].into_iter().map(MetaValue::I32).collect()),
    );
    meta.insert("tokenizer.ggml.merges", strings(&["a b"]));
    meta.insert("tokenizer.ggml.eos_token_id", MetaValue::U32(0));
    meta
}

#[test]
fn tiny_gguf_vocabulary_works() {
    let tok = Tokenizer::from_gguf(&tiny_gpt2()).unwrap();
    assert_eq!(
        tok.encode("ab a<|endoftext|>", true).unwrap(),
        vec![3, 4, 1, 0]
    );
    assert_eq!(tok.decode(&[3, 4, 1, 0]).unwrap(), "ab a");
    assert_eq!(tok.eos_id(), Some(0));
    assert_eq!(tok.eot_id(), None);
    assert_eq!(tok.stop_ids(), vec![0]);
}

#[test]
fn user_defined_tokens_are_always_one_token_and_printed() {
    let mut meta = tiny_gpt2();
    meta.insert(
        "tokenizer.ggml.tokens",
        strings(&["<|endoftext|>", "a", "b", "ab", "Ġ", "<tool>"]),
    );
    meta.insert(
        "tokenizer.ggml.token_type",
        MetaValue::Array([3, 1, 1, 1, 1, 4].into_iter().map(MetaValue::I32).collect()),
    );
    let tok = Tokenizer::from_gguf(&meta).unwrap();
    for parse_special in [true, false] {
        assert_eq!(
            tok.encode("a<tool>b", parse_special).unwrap(),
            vec![1, 5, 2]
        );
    }
    assert!(!tok.is_special(5));
    assert_eq!(tok.decode(&[1, 5, 2]).unwrap(), "a<tool>b");
    let mut detok = tok.detokenizer();
    let streamed: String = [1, 5, 0, 2].iter().map(|id| detok.push(*id)).collect();
    assert_eq!(streamed, "a<tool>b");
}

#[test]
fn gguf_errors_are_typed() {
    let mut meta = tiny_gpt2();
    meta.entries.remove("tokenizer.ggml.tokens");
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::MissingKey(k)) if k == "tokenizer.ggml.tokens"
    ));

    let mut meta = tiny_gpt2();
    meta.insert("tokenizer.ggml.tokens", MetaValue::U32(3));
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::WrongType { key, .. }) if key == "tokenizer.ggml.tokens"
    ));

    let mut meta = tiny_gpt2();
    meta.insert(
        "tokenizer.ggml.merges",
        MetaValue::Array(vec![MetaValue::U8(1)]),
    );
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::WrongType { key, .. }) if key == "tokenizer.ggml.merges"
    ));

    let mut meta = tiny_gpt2();
    meta.insert(
        "tokenizer.ggml.model",
        MetaValue::String("wordpiece-9000".into()),
    );
    let err = Tokenizer::from_gguf(&meta).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("wordpiece-9000")),
        "{err}"
    );

    let mut meta = tiny_gpt2();
    meta.insert(
        "tokenizer.ggml.pre",
        MetaValue::String("no-such-pre".into()),
    );
    let err = Tokenizer::from_gguf(&meta).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("no-such-pre")),
        "{err}"
    );

    let mut meta = tiny_gpt2();
    meta.insert("tokenizer.ggml.merges", strings(&["a z"]));
    let err = Tokenizer::from_gguf(&meta).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("'z'")),
        "{err}"
    );

    let mut meta = tiny_gpt2();
    meta.insert("tokenizer.ggml.merges", strings(&["ab"]));
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::Tokenizer(_))
    ));

    let mut meta = tiny_gpt2();
    meta.insert(
        "tokenizer.ggml.token_type",
        MetaValue::Array(vec![MetaValue::I32(1)]),
    );
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::Tokenizer(_))
    ));

    let mut meta = tiny_gpt2();
    meta.insert("tokenizer.ggml.eos_token_id", MetaValue::U32(5));
    let err = Tokenizer::from_gguf(&meta).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("EOS")),
        "{err}"
    );

    let mut meta = tiny_gpt2();
    meta.insert("tokenizer.ggml.eos_token_id", MetaValue::String("2".into()));
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::WrongType { .. })
    ));
}

#[test]
fn malformed_tokenizer_json_is_an_error() {
    let sparse_ids =
        br#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 4000000000}, "merges": []}}"#;
    let err = Tokenizer::from_json(sparse_ids).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("4000000000")),
        "{err}"
    );
    for bad in [
        &b"not json"[..],
        br#"{"model": {"type": "BPE"}}"#,
        br#"{"version": "1.0", "model": {"type": "NoSuchModel"}}"#,
        b"",
    ] {
        assert!(matches!(
            Tokenizer::from_json(bad),
            Err(Error::Tokenizer(_))
        ));
    }
    let json = Tokenizer::from_gguf(&tiny_gpt2())
        .unwrap()
        .to_json()
        .unwrap();
    let config = HfTokenizerConfig::parse(br#"{"eos_token": "<|nope|>"}"#).unwrap();
    let err = Tokenizer::from_hf(json.as_bytes(), Some(&config)).unwrap_err();
    assert!(
        matches!(err, Error::Tokenizer(ref m) if m.contains("<|nope|>")),
        "{err}"
    );
}

// ---- SentencePiece-style vocabularies ---------------------------------------------------

/// `▁`, letters, `▁h`, `he`, `▁he`, `llo`, `▁hello`, byte tokens for 0xE6 0x88 0x91.
fn tiny_llama() -> Metadata {
    let tokens = [
        "<unk>", "<s>", "</s>", "<0xE6>", "<0x88>", "<0x91>", "▁", "h", "e", "l", "o", "▁h", "he",
        "▁he", "ll", "llo", "▁hel", "▁hello",
    ];
    let types = [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    let scores = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -2.0, -2.0, -5.0, -6.0, -4.0, -3.0, -3.5,
        -7.0, -1.5,
    ];
    let mut meta = Metadata::default();
    meta.insert("tokenizer.ggml.model", MetaValue::String("llama".into()));
    meta.insert("tokenizer.ggml.tokens", strings(&tokens));
    meta.insert(
        "tokenizer.ggml.token_type",
        MetaValue::Array(types.into_iter().map(MetaValue::I32).collect()),
    );
    meta.insert(
        "tokenizer.ggml.scores",
        MetaValue::Array(scores.into_iter().map(MetaValue::F32).collect()),
    );
    meta.insert("tokenizer.ggml.bos_token_id", MetaValue::U32(1));
    meta.insert("tokenizer.ggml.eos_token_id", MetaValue::U32(2));
    meta.insert("tokenizer.ggml.unknown_token_id", MetaValue::U32(0));
    meta
}

#[test]
fn sentencepiece_vocabulary_from_scores() {
    let tok = Tokenizer::from_gguf(&tiny_llama()).unwrap();
    assert!(tok.add_bos());
    // A dummy prefix space, merges by score, byte fallback for an unknown character.
    let ids = tok.encode("hello 我", true).unwrap();
    assert_eq!(ids, vec![17, 6, 3, 4, 5]);
    assert_eq!(tok.decode(&ids).unwrap(), "hello 我");
    let mut detok = tok.detokenizer();
    let streamed: Vec<String> = [1].iter().chain(&ids).map(|id| detok.push(*id)).collect();
    assert_eq!(streamed, vec!["", "hello", " ", "", "", "我"]);
    assert_eq!(tok.encode("</s>", true).unwrap(), vec![2]);
    assert!(tok.encode("</s>", false).unwrap() != vec![2]);

    // Through tokenizer.json and back: same ids, same bytes, same first-space rule.
    let reloaded = Tokenizer::from_json(tok.to_json().unwrap().as_bytes()).unwrap();
    assert_eq!(reloaded.encode("hello 我", true).unwrap(), ids);
    assert_eq!(reloaded.bos_id(), Some(1));
    assert_eq!(reloaded.eos_id(), Some(2));
    let mut detok = reloaded.detokenizer();
    let streamed: String = ids.iter().map(|id| detok.push(*id)).collect();
    assert_eq!(streamed, "hello 我");

    let mut meta = tiny_llama();
    meta.entries.remove("tokenizer.ggml.scores");
    assert!(matches!(
        Tokenizer::from_gguf(&meta),
        Err(Error::MissingKey(k)) if k == "tokenizer.ggml.scores"
    ));
}

/// The perplexity protocol tokenizes a whole license text with specials not parsed;
/// llama.cpp counted 7639 tokens. A long English text exercises the pre-tokenizer
/// regexes far more than the short cases.
#[test]
fn perplexity_text_token_count_matches_llama_cpp() {
    #[derive(Deserialize)]
    struct Perplexity {
        file: String,
        text_tokens: usize,
    }
    #[derive(Deserialize)]
    struct WithPerplexity {
        perplexity: Perplexity,
    }
    let path = manifest_path("tests/fixtures/smollm2-135m-q4_1.json");
    let fixture: WithPerplexity = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let text = std::fs::read_to_string(&fixture.perplexity.file).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (Debian's base-files provides it): {e}",
            fixture.perplexity.file
        )
    });
    let tok = gguf_tokenizer();
    let ids = tok.encode(&text, false).unwrap();
    assert_eq!(ids.len(), fixture.perplexity.text_tokens);
    assert_eq!(tok.decode(&ids).unwrap(), text);
}

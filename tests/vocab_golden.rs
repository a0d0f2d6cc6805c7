//! llama.cpp's vocabulary-only GGUF files and their golden tokenizations (made with each
//! vocabulary's Hugging Face tokenizer), fetched by `scripts/fetch-models.sh llama-cpp-models`
//! into `models/llama.cpp/`: `ggml-vocab-NAME.gguf`, `.gguf.inp` (texts, each followed by a
//! `__ggml_vocab_test__` line) and `.gguf.out` (each text's ids, one line per text; no BOS,
//! special tokens not parsed, as llama.cpp's test-tokenizer-0 tokenizes them).

use std::path::{Path, PathBuf};

use hearth::formats::gguf::read_gguf_header;
use hearth::tokenizer::Tokenizer;
use hearth::Error;

/// Vocabularies hearth tokenizes: every golden text must give llama.cpp's ids.
const SUPPORTED: &[&str] = &[
    "command-r",
    "deepseek-coder",
    "deepseek-llm",
    "falcon",
    "gpt-2",
    "llama-bpe",
    "llama-spm",
    "mpt",
    "phi-3",
    "qwen2",
    "qwen35",
    "refact",
    "starcoder",
];

/// Vocabularies hearth refuses, each with a typed error naming the tokenizer model it does
/// not implement (WordPiece, Gemma 4's).
const REFUSED: &[(&str, &str)] = &[
    ("bert-bge", "unsupported tokenizer model 'bert'"),
    ("gemma-4", "unsupported tokenizer model 'gemma4'"),
];

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

fn vocab_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/llama.cpp");
    assert!(
        dir.join("complete").exists(),
        "{} is missing: run scripts/fetch-models.sh llama-cpp-models",
        dir.display()
    );
    dir
}

fn tokenizer(name: &str) -> hearth::Result<Tokenizer> {
    let path = vocab_dir().join(format!("ggml-vocab-{name}.gguf"));
    let header = read_gguf_header(&path)
        .unwrap_or_else(|e| panic!("reading the header of {}: {e}", path.display()));
    Tokenizer::from_gguf(&header.metadata)
}

/// The golden pairs of vocabulary `name`: (text, ids).
fn golden(name: &str) -> Vec<(String, Vec<u32>)> {
    let read = |ext: &str| {
        let path = vocab_dir().join(format!("ggml-vocab-{name}.gguf.{ext}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (inp, out) = (read("inp"), read("out"));
    let texts = inp
        .strip_suffix(SEPARATOR)
        .expect("the .inp file ends with a separator")
        .split(SEPARATOR);
    let ids = out.lines().map(|line| {
        line.split_whitespace()
            .map(|id| id.parse().expect("an id"))
            .collect()
    });
    let pairs: Vec<(String, Vec<u32>)> = texts.map(str::to_string).zip(ids).collect();
    assert_eq!(
        pairs.len(),
        out.lines().count(),
        "{name}: one line of ids per text"
    );
    pairs
}

#[test]
fn supported_vocabularies_tokenize_every_golden_text_as_llama_cpp() {
    for name in SUPPORTED {
        let tok = tokenizer(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pairs = golden(name);
        assert!(pairs.len() >= 40, "{name}: {} golden texts", pairs.len());
        for (text, want) in pairs {
            let got = tok.encode(&text, false).unwrap();
            assert_eq!(got, want, "{name}: {text:?}");
        }
    }
}

#[test]
fn other_vocabularies_are_refused_by_name() {
    for (name, reason) in REFUSED {
        match tokenizer(name) {
            Err(Error::Tokenizer(message)) => {
                assert!(message.contains(reason), "{name}: {message}")
            }
            Err(other) => panic!("{name}: another error: {other}"),
            Ok(_) => panic!("{name}: expected to be refused, but it loads"),
        }
    }
}

/// Every vocabulary with golden data is in one of the lists, so a new one is not skipped.
#[test]
fn every_golden_vocabulary_is_listed() {
    for entry in std::fs::read_dir(vocab_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = file
            .strip_prefix("ggml-vocab-")
            .and_then(|f| f.strip_suffix(".gguf.inp"))
        else {
            continue;
        };
        assert!(
            SUPPORTED.contains(&name) || REFUSED.iter().any(|(n, _)| *n == name),
            "{name} has golden tokenizations but is in neither list"
        );
    }
}

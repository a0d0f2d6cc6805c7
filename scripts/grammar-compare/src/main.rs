//! llguidance (hearth's choice) against outlines-core on one schema and one answer: the
//! answer's tokens are fed one by one, each checked to be allowed by the mask before it.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hearth::formats::gguf::read_gguf_header;
use hearth::tokenizer::Tokenizer;
use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn llguidance(words: &[Vec<u8>], stops: &[u32], schema: &Value, answer: &[u32]) {
    let t = Instant::now();
    let info = TokRxInfo::new(words.len() as u32, stops[0]);
    let trie = TokTrie::from(&info, words).with_eos_tokens(stops);
    let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
    let mut factory = ParserFactory::new_simple(&env).expect("vocabulary");
    factory.quiet();
    let vocabulary_ms = ms_since(t);

    let t = Instant::now();
    let grammar = TopLevelGrammar::from_json_schema(schema.clone());
    let mut matcher = Matcher::new(Ok(factory.create_parser(grammar).expect("schema")));
    let schema_ms = ms_since(t);

    let t = Instant::now();
    let mut allowed = 0;
    for &token in answer {
        let mask = matcher.compute_mask().expect("mask");
        assert!(mask.is_allowed(token), "llguidance refused token {token}");
        allowed += mask.num_set();
        matcher.consume_token(token).expect("consume");
    }
    let per_token = ms_since(t) / answer.len() as f64;
    println!(
        "llguidance: vocabulary {vocabulary_ms:.1} ms, schema {schema_ms:.1} ms, \
         mask + consume {per_token:.3} ms/token (allowed on average {})",
        allowed / answer.len()
    );
}

fn outlines(words: &[Vec<u8>], stops: &[u32], schema: &Value, answer: &[u32]) {
    use outlines_core::prelude::{Index, Vocabulary};
    let t = Instant::now();
    let mut vocabulary = Vocabulary::new(stops[0]);
    for (id, word) in words.iter().enumerate() {
        // Stops and special tokens (hearth marks them with a leading 0xFF) are not text.
        if stops.contains(&(id as u32)) || word.first() == Some(&0xFF) {
            continue;
        }
        vocabulary
            .try_insert(word.clone(), id as u32)
            .expect("vocabulary");
    }
    let vocabulary_ms = ms_since(t);

    let t = Instant::now();
    let regex = outlines_core::json_schema::regex_from_str(&schema.to_string(), None, None)
        .expect("schema");
    let index = Index::new(&regex, &vocabulary).expect("index");
    let schema_ms = ms_since(t);
    let transitions: usize = index.transitions().values().map(|t| t.len()).sum();

    let t = Instant::now();
    let mut state = index.initial_state();
    let mut mask = vec![0u32; words.len().div_ceil(32)];
    let mut allowed = 0;
    for &token in answer {
        // The bit mask a sampler would apply, as llguidance returns it.
        mask.fill(0);
        let tokens = index.allowed_tokens(&state).expect("state");
        for &a in &tokens {
            mask[a as usize / 32] |= 1 << (a % 32);
        }
        allowed += tokens.len();
        assert!(
            mask[token as usize / 32] & (1 << (token % 32)) != 0,
            "outlines-core refused token {token}"
        );
        state = index.next_state(&state, &token).expect("transition");
    }
    let per_token = ms_since(t) / answer.len() as f64;
    println!(
        "outlines-core: vocabulary {vocabulary_ms:.1} ms, schema {schema_ms:.1} ms \
         (regex of {} chars, index of {} states and {transitions} transitions), \
         mask + next state {per_token:.3} ms/token (allowed on average {})",
        regex.len(),
        index.transitions().len(),
        allowed / answer.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, schema, answer] = &args[..] else {
        eprintln!("usage: grammar-compare MODEL.gguf SCHEMA.json ANSWER.json");
        std::process::exit(2);
    };
    let header = read_gguf_header(Path::new(model)).expect("model header");
    let tokenizer = Tokenizer::from_gguf(&header.metadata).expect("tokenizer");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema).expect("schema file"))
            .expect("schema JSON");
    let answer = std::fs::read_to_string(answer).expect("answer file");
    let answer = tokenizer.encode(answer.trim_end(), false).expect("encode");
    let words = tokenizer.token_bytes_marking_special();
    let stops = tokenizer.stop_ids();
    println!(
        "{model}: vocabulary {}, answer {} tokens",
        words.len(),
        answer.len()
    );
    llguidance(&words, &stops, &schema, &answer);
    outlines(&words, &stops, &schema, &answer);
}

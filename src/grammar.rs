//! Structured output: an answer constrained by a grammar compiled from a JSON schema
//! (`response_format`, or the arguments of a required tool call). At each step the tokens
//! that cannot continue the grammar are masked out of the logits before sampling, so the
//! answer parses by construction — it is not asked for in the prompt.
//!
//! llguidance compiles the schema and computes the masks (its Earley parser over a token
//! trie of the vocabulary, the engine behind OpenAI's and llama.cpp's structured outputs).
//! The mask is applied on the CPU, to the logits the sampler reads back anyway: one pass
//! over the vocabulary, next to which the GPU readback and the mask itself dominate.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};
use web_time::Instant;

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// Compiles grammars for one tokenizer; built once per engine, on the first request that
/// needs it (the token trie of a 150k vocabulary takes a few MB and tens of ms).
pub struct Grammars {
    factory: ParserFactory,
}

impl Grammars {
    pub fn new(tokenizer: &Tokenizer) -> Result<Self> {
        let words = tokenizer.token_bytes_marking_special();
        let stops = tokenizer.stop_ids();
        let eos = stops
            .first()
            .copied()
            .ok_or_else(|| Error::Grammar("the model has no end-of-sequence token".into()))?;
        let info = TokRxInfo::new(words.len() as u32, eos);
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&stops);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env)
            .map_err(|e| Error::Grammar(format!("cannot index the vocabulary: {e}")))?;
        factory.quiet();
        Ok(Grammars { factory })
    }

    /// The constraint of an answer that must be JSON matching `schema`. An invalid or
    /// unsupported schema is an `InvalidRequest` naming `field`.
    pub fn json(&self, schema: serde_json::Value, field: &str) -> Result<Constraint> {
        let grammar = TopLevelGrammar::from_json_schema(schema);
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| Error::InvalidRequest(format!("{field}: {e}")))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(Error::InvalidRequest(format!("{field}: {e}")));
        }
        Ok(Constraint {
            matcher,
            mask_ms: 0.0,
            masks: 0,
        })
    }
}

/// The grammar state of one answer.
pub struct Constraint {
    matcher: Matcher,
    /// Time spent computing masks, and how many: the grammar's cost per token.
    pub mask_ms: f64,
    pub masks: usize,
}

impl Constraint {
    /// Sets the logit of every token the grammar does not allow next to −∞ (tokens past
    /// the tokenizer's vocabulary, which some models' output rows have, included).
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        let started = Instant::now();
        let allowed = self
            .matcher
            .compute_mask_or_eos()
            .map_err(|e| Error::Grammar(e.to_string()))?;
        for (id, logit) in logits.iter_mut().enumerate() {
            if id >= allowed.len() || !allowed.is_allowed(id as u32) {
                *logit = f32::NEG_INFINITY;
            }
        }
        self.mask_ms += started.elapsed().as_secs_f64() * 1000.0;
        self.masks += 1;
        Ok(())
    }

    /// Advances the grammar past the sampled `token`.
    pub fn accept(&mut self, token: u32) -> Result<()> {
        self.matcher
            .consume_token(token)
            .map_err(|e| Error::Grammar(e.to_string()))
    }

    /// The grammar is complete: nothing but the end of the answer may follow.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}

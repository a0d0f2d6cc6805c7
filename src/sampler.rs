//! Logits → token: greedy, temperature, top-k, top-p, min-p, logit bias, frequency,
//! presence and repetition penalties, seed; and the log-probabilities of what was drawn.
//!
//! The order follows common practice (llama.cpp, Hugging Face): logit bias, then the
//! penalties on the raw logits, then temperature, then the truncations (top-k, top-p,
//! min-p) on the probabilities, then one draw. A given seed and the same settings always
//! give the same tokens.

mod logprobs;
mod penalties;

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use logprobs::{logprobs, Logprobs, LOGPROB_FLOOR, MAX_TOP_LOGPROBS};
use penalties::{apply_frequency_presence, apply_logit_bias, apply_repetition_penalty};

/// OpenAI's range of `frequency_penalty` and `presence_penalty`.
const PENALTY_RANGE: std::ops::RangeInclusive<f32> = -2.0..=2.0;
/// OpenAI's range of a `logit_bias` value.
const BIAS_RANGE: std::ops::RangeInclusive<f32> = -100.0..=100.0;

/// How to pick the next token. Defaults are OpenAI's: temperature 1, no truncation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 disables.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p; 1 disables.
    pub top_p: f32,
    /// Drop tokens less likely than min_p × the most likely one; 0 disables.
    pub min_p: f32,
    /// CTRL-style penalty on tokens already in the context; 1 disables.
    pub repetition_penalty: f32,
    /// OpenAI's: subtracted from a token's logit once per time it was sampled in this
    /// completion; 0 disables.
    pub frequency_penalty: f32,
    /// OpenAI's: subtracted from a token's logit once it was sampled in this completion;
    /// 0 disables.
    pub presence_penalty: f32,
    /// OpenAI's: added to a token's logit (in [-100, 100]; -100 bans the token).
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed of the random draw; `None` picks one.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: None,
        }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..Default::default()
        }
    }

    /// Rejects values outside their meaningful ranges, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, range: &str, v: f32| {
            Err(Error::InvalidRequest(format!(
                "{field} must be {range}, got {v}"
            )))
        };
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature", "a number >= 0", self.temperature);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "in (0, 1]", self.top_p);
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", "in [0, 1]", self.min_p);
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad(
                "repetition_penalty",
                "a number > 0",
                self.repetition_penalty,
            );
        }
        for (field, value) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if !PENALTY_RANGE.contains(&value) {
                return bad(field, "in [-2, 2]", value);
            }
        }
        for &(token, bias) in &self.logit_bias {
            if !BIAS_RANGE.contains(&bias) {
                return Err(Error::InvalidRequest(format!(
                    "logit_bias of token {token} must be in [-100, 100], got {bias}"
                )));
            }
        }
        Ok(())
    }

    /// Greedy decoding that nothing changes the logits of only needs the argmax, which the
    /// GPU computes without reading the logits back.
    pub fn is_plain_greedy(&self) -> bool {
        self.temperature == 0.0
            && self.repetition_penalty == 1.0
            && self.frequency_penalty == 0.0
            && self.presence_penalty == 0.0
            && self.logit_bias.is_empty()
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    /// Scratch space reused across draws: (token, probability) candidates.
    candidates: Vec<(u32, f32)>,
    /// How often each token was drawn by this sampler: the counts of the frequency and
    /// presence penalties. OpenAI counts the tokens sampled in this completion, not the
    /// prompt's, so a penalty steers the answer away from repeating itself, never from
    /// the words of the question. One sampler serves one completion.
    drawn: HashMap<u32, u32>,
}

impl Sampler {
    /// `fallback_seed` is used when the params carry none (e.g. derived from the clock).
    pub fn new(params: SamplingParams, fallback_seed: u64) -> Result<Self> {
        params.validate()?;
        let rng = StdRng::seed_from_u64(params.seed.unwrap_or(fallback_seed));
        Ok(Sampler {
            params,
            rng,
            candidates: Vec::new(),
            drawn: HashMap::new(),
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks a token from `logits` and counts it for the frequency and presence penalties.
    /// `context` holds the tokens the repetition penalty applies to (prompt and answer).
    /// On return `logits` holds what the draw saw before temperature: the model's logits
    /// with the logit bias and the penalties applied, the distribution whose log-softmax
    /// [`logprobs`] reports.
    pub fn sample(&mut self, logits: &mut [f32], context: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::InvalidRequest("no logits to sample from".into()));
        }
        let p = &self.params;
        apply_logit_bias(logits, &p.logit_bias);
        apply_repetition_penalty(logits, context, p.repetition_penalty);
        apply_frequency_presence(logits, &self.drawn, p.frequency_penalty, p.presence_penalty);
        let token = self.draw(logits);
        *self.drawn.entry(token).or_insert(0) += 1;
        Ok(token)
    }

    /// One token from processed logits: the argmax at temperature 0, else a draw.
    fn draw(&mut self, logits: &[f32]) -> u32 {
        if self.params.temperature == 0.0 {
            return argmax(logits);
        }
        self.fill_candidates(logits);
        let p = &self.params;
        let cands = &mut self.candidates;
        if p.top_k > 0 && p.top_k < cands.len() {
            cands.select_nth_unstable_by(p.top_k - 1, |a, b| b.1.total_cmp(&a.1));
            cands.truncate(p.top_k);
        }
        // Softmax over the survivors at the given temperature (max-subtracted).
        let max = cands.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f64;
        for c in cands.iter_mut() {
            c.1 = ((c.1 - max) / p.temperature).exp();
            sum += c.1 as f64;
        }
        for c in cands.iter_mut() {
            c.1 = (c.1 as f64 / sum) as f32;
        }
        if p.top_p < 1.0 || p.min_p > 0.0 {
            cands.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        if p.top_p < 1.0 {
            let mut cum = 0.0f32;
            let mut keep = cands.len();
            for (i, c) in cands.iter().enumerate() {
                cum += c.1;
                if cum >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            cands.truncate(keep);
        }
        if p.min_p > 0.0 {
            let threshold = cands[0].1 * p.min_p;
            cands.retain(|c| c.1 >= threshold);
        }
        let total: f32 = cands.iter().map(|c| c.1).sum();
        let mut r = self.rng.random::<f32>() * total;
        for c in cands.iter() {
            r -= c.1;
            if r <= 0.0 {
                return c.0;
            }
        }
        // Rounding left a sliver: the last candidate takes it.
        cands.last().map(|c| c.0).unwrap_or(0)
    }

    fn fill_candidates(&mut self, logits: &[f32]) {
        self.candidates.clear();
        self.candidates.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, &l)| (i as u32, l)),
        );
        if self.candidates.is_empty() {
            // Every logit is -inf/NaN: fall back to the first token rather than fail a draw.
            self.candidates.push((0, 0.0));
        }
    }
}

/// Index of the largest logit; ties go to the lowest index (as the GPU argmax does).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
        let mut p = SamplingParams {
            seed: Some(7),
            ..Default::default()
        };
        f(&mut p);
        p
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(SamplingParams::greedy(), 0).unwrap();
        assert_eq!(s.sample(&mut [0.1, 3.0, 3.0, -1.0], &[]).unwrap(), 1);
    }

    #[test]
    fn same_seed_same_tokens_and_different_seed_differs() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 30.0).collect();
        let draw = |seed| {
            let mut s = Sampler::new(params(|p| p.seed = Some(seed)), 0).unwrap();
            (0..50)
                .map(|_| s.sample(&mut logits.clone(), &[]).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(params(|p| p.top_k = 1), 0).unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [1.0, 5.0, 4.9, 0.0], &[]).unwrap(), 1);
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // probabilities ≈ [0.64, 0.24, 0.09, 0.03]: top_p 0.7 keeps tokens 0 and 1.
        let mut s = Sampler::new(params(|p| p.top_p = 0.7), 0).unwrap();
        let mut seen = [0usize; 4];
        for _ in 0..400 {
            seen[s.sample(&mut [3.0, 2.0, 1.0, 0.0], &[]).unwrap() as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let mut s = Sampler::new(params(|p| p.min_p = 0.5), 0).unwrap();
        for _ in 0..200 {
            let t = s.sample(&mut [3.0, 2.9, 0.0, -5.0], &[]).unwrap();
            assert!(t < 2, "token {t} is below min_p");
        }
    }

    #[test]
    fn repetition_penalty_changes_the_winner() {
        let mut s = Sampler::new(
            SamplingParams {
                repetition_penalty: 2.0,
                ..SamplingParams::greedy()
            },
            0,
        )
        .unwrap();
        assert_eq!(s.sample(&mut [4.0, 3.0, -1.0], &[0, 0]).unwrap(), 1);
    }

    #[test]
    fn logit_bias_plus_100_forces_and_minus_100_bans() {
        let logits = [2.0, 9.0, 1.0, -3.0];
        for temperature in [0.0, 1.0, 2.0] {
            let mut forced = Sampler::new(
                params(|p| {
                    p.temperature = temperature;
                    p.logit_bias = vec![(3, 100.0)];
                }),
                0,
            )
            .unwrap();
            let mut banned = Sampler::new(
                params(|p| {
                    p.temperature = temperature;
                    p.logit_bias = vec![(1, -100.0)];
                }),
                0,
            )
            .unwrap();
            for _ in 0..50 {
                assert_eq!(forced.sample(&mut logits.clone(), &[]).unwrap(), 3);
                assert_ne!(banned.sample(&mut logits.clone(), &[]).unwrap(), 1);
            }
        }
    }

    #[test]
    fn frequency_and_presence_count_sampled_tokens_not_the_context() {
        let greedy_with = |f: fn(&mut SamplingParams)| {
            let mut p = SamplingParams::greedy();
            f(&mut p);
            Sampler::new(p, 0).unwrap()
        };
        // Token 0 fills the context (the prompt): no penalty before it is sampled.
        let mut s = greedy_with(|p| p.presence_penalty = 2.0);
        assert_eq!(s.sample(&mut [5.0, 4.0], &[0, 0, 0]).unwrap(), 0);
        // Sampled once: 5 - 2 < 4.
        assert_eq!(s.sample(&mut [5.0, 4.0], &[0, 0, 0, 0]).unwrap(), 1);

        // Frequency grows with each draw: 5, then 5 - 0.6, then 5 - 1.2 < 4.
        let mut s = greedy_with(|p| p.frequency_penalty = 0.6);
        let drawn: Vec<u32> = (0..3)
            .map(|_| s.sample(&mut [5.0, 4.0], &[]).unwrap())
            .collect();
        assert_eq!(drawn, [0, 0, 1]);
    }

    #[test]
    fn the_logits_left_after_a_draw_are_biased_and_penalized_but_not_tempered() {
        let mut s = Sampler::new(
            params(|p| {
                p.temperature = 0.5;
                p.frequency_penalty = 1.0;
                p.logit_bias = vec![(2, 3.0)];
            }),
            0,
        )
        .unwrap();
        let mut logits = [0.0, 0.0, 0.0];
        let first = s.sample(&mut logits, &[]).unwrap();
        assert_eq!(logits, [0.0, 0.0, 3.0]);
        let mut logits = [0.0, 0.0, 0.0];
        s.sample(&mut logits, &[]).unwrap();
        let mut want = [0.0, 0.0, 3.0];
        want[first as usize] -= 1.0;
        assert_eq!(logits, want);
    }

    #[test]
    fn only_untouched_greedy_may_take_the_gpu_argmax() {
        assert!(SamplingParams::greedy().is_plain_greedy());
        for changed in [
            SamplingParams {
                frequency_penalty: 0.1,
                ..SamplingParams::greedy()
            },
            SamplingParams {
                presence_penalty: -0.1,
                ..SamplingParams::greedy()
            },
            SamplingParams {
                logit_bias: vec![(5, 1.0)],
                ..SamplingParams::greedy()
            },
            SamplingParams {
                repetition_penalty: 1.1,
                ..SamplingParams::greedy()
            },
        ] {
            assert!(!changed.is_plain_greedy(), "{changed:?}");
        }
    }

    #[test]
    fn invalid_params_are_rejected_by_name() {
        for (p, field) in [
            (params(|p| p.temperature = -1.0), "temperature"),
            (params(|p| p.top_p = 0.0), "top_p"),
            (params(|p| p.min_p = 2.0), "min_p"),
            (
                params(|p| p.repetition_penalty = f32::NAN),
                "repetition_penalty",
            ),
            (params(|p| p.frequency_penalty = 2.5), "frequency_penalty"),
            (
                params(|p| p.presence_penalty = f32::NAN),
                "presence_penalty",
            ),
            (params(|p| p.logit_bias = vec![(3, 101.0)]), "logit_bias"),
            (params(|p| p.logit_bias = vec![(3, f32::NAN)]), "logit_bias"),
        ] {
            match Sampler::new(p, 0) {
                Err(Error::InvalidRequest(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("expected InvalidRequest for {field}, got {:?}", other.err()),
            }
        }
    }
}

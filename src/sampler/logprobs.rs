//! Log-probabilities of a token and of the most likely alternatives: the log-softmax of
//! the logits the sampler drew from (after logit bias and penalties, before temperature
//! and truncation; see `Sampler::sample`).

/// The lowest log-probability reported: a token whose logit is -inf (banned by
/// `logit_bias`) has probability 0, whose logarithm JSON cannot carry. OpenAI reports
/// -9999 for such tokens.
pub const LOGPROB_FLOOR: f32 = -9999.0;

/// The largest number of alternatives reported per token (OpenAI's `top_logprobs` limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// Log-probabilities at one step: the chosen token's and the `top` most likely tokens'
/// (most likely first; ties in id order).
#[derive(Debug, Clone, PartialEq)]
pub struct Logprobs {
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

/// `log_softmax(logits)` at `token`, and at the `top_n` tokens with the largest logits.
/// Non-finite logits count as -inf (probability 0); they are never among the top.
pub fn logprobs(logits: &[f32], token: u32, top_n: usize) -> Logprobs {
    let log_sum = log_sum_exp(logits);
    let of = |logit: f32| -> f32 {
        if !logit.is_finite() || !log_sum.is_finite() {
            return LOGPROB_FLOOR;
        }
        ((logit as f64 - log_sum) as f32).max(LOGPROB_FLOOR)
    };
    let logprob = logits.get(token as usize).map_or(LOGPROB_FLOOR, |&l| of(l));
    let top = top_tokens(logits, top_n.min(MAX_TOP_LOGPROBS))
        .into_iter()
        .map(|(id, logit)| (id, of(logit)))
        .collect();
    Logprobs { logprob, top }
}

/// `ln(sum(exp(logits)))` over the finite logits, in f64 (a vocabulary of 150k terms),
/// max-subtracted; -inf when none is finite.
fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, |m, &l| m.max(l));
    if !max.is_finite() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| ((l - max) as f64).exp())
        .sum();
    max as f64 + sum.ln()
}

/// The `n` largest finite logits with their ids, largest first (ties: lower id first).
/// One pass keeping a sorted list of at most `n` (n ≤ 20): no copy of the vocabulary.
fn top_tokens(logits: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    if n == 0 {
        return top;
    }
    for (id, &logit) in logits.iter().enumerate() {
        if !logit.is_finite() || (top.len() == n && logit <= top[n - 1].1) {
            continue;
        }
        // After every kept entry at least as large: equal logits keep id order.
        let at = top.partition_point(|&(_, l)| l >= logit);
        top.insert(at, (id as u32, logit));
        top.truncate(n);
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    /// log-softmax written out plainly, in f64.
    fn reference(logits: &[f32], i: usize) -> f64 {
        let sum: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        logits[i] as f64 - sum.ln()
    }

    #[test]
    fn top_1_logprob_is_the_log_softmax_of_the_logits() {
        let logits: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 2003) as f32 / 97.0 - 8.0)
            .collect();
        let best = crate::sampler::argmax(&logits);
        let lp = logprobs(&logits, best, 5);
        assert!((lp.logprob as f64 - reference(&logits, best as usize)).abs() < 1e-5);
        assert_eq!(lp.top[0], (best, lp.logprob));
        for &(id, value) in &lp.top {
            assert!((value as f64 - reference(&logits, id as usize)).abs() < 1e-5);
        }
    }

    #[test]
    fn probabilities_sum_to_one_and_the_top_is_sorted() {
        let logits = [1.0f32, 3.0, 2.0, 3.0, -1.0];
        let lp = logprobs(&logits, 4, 5);
        let ids: Vec<u32> = lp.top.iter().map(|t| t.0).collect();
        assert_eq!(ids, [1, 3, 2, 0, 4], "largest first, ties in id order");
        let total: f32 = lp.top.iter().map(|t| t.1.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert_eq!(lp.logprob, lp.top[4].1);
    }

    #[test]
    fn huge_logits_do_not_overflow() {
        let lp = logprobs(&[1000.0, 999.0], 0, 1);
        assert!((lp.logprob as f64 - (-(1.0 + (-1.0f64).exp()).ln())).abs() < 1e-6);
    }

    #[test]
    fn banned_tokens_have_the_floor_and_are_never_in_the_top() {
        let logits = [f32::NEG_INFINITY, 0.0, f32::NAN, 0.0];
        let lp = logprobs(&logits, 0, 4);
        assert_eq!(lp.logprob, LOGPROB_FLOOR);
        assert_eq!(lp.top.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 3]);
        assert!((lp.top[0].1 - 0.5f32.ln()).abs() < 1e-6);
        // Nothing finite at all: every value is the floor, none is a top token.
        let lp = logprobs(&[f32::NEG_INFINITY; 3], 1, 2);
        assert_eq!((lp.logprob, lp.top.len()), (LOGPROB_FLOOR, 0));
    }

    #[test]
    fn top_n_is_capped_and_zero_gives_none() {
        let logits: Vec<f32> = (0..100).map(|i| i as f32 / 10.0).collect();
        assert_eq!(logprobs(&logits, 0, 0).top.len(), 0);
        let lp = logprobs(&logits, 0, 500);
        assert_eq!(lp.top.len(), MAX_TOP_LOGPROBS);
        assert_eq!(lp.top[0].0, 99);
        assert_eq!(lp.top[19].0, 80);
    }
}

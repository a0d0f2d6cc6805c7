//! What changes the logits before a token is drawn: OpenAI's `logit_bias`, its
//! `frequency_penalty` and `presence_penalty`, and the CTRL-style repetition penalty.

use std::collections::HashMap;

/// The bias that bans a token outright: OpenAI documents -100 as "a ban", so the token's
/// logit becomes -inf rather than merely 100 lower, and no temperature can bring it back.
pub const BAN: f32 = -100.0;

/// Adds each `(token, bias)` to its logit; a bias of [`BAN`] makes the logit -inf. Ids
/// outside `logits` are ignored (the engine rejects them before a generation starts).
pub fn apply_logit_bias(logits: &mut [f32], bias: &[(u32, f32)]) {
    for &(token, b) in bias {
        if let Some(l) = logits.get_mut(token as usize) {
            *l = if b <= BAN { f32::NEG_INFINITY } else { *l + b };
        }
    }
}

/// OpenAI's definition: `logit[t] -= count[t] * frequency + (count[t] > 0) * presence`,
/// where `count` holds how often each token was sampled so far in this completion.
pub fn apply_frequency_presence(
    logits: &mut [f32],
    counts: &HashMap<u32, u32>,
    frequency: f32,
    presence: f32,
) {
    if frequency == 0.0 && presence == 0.0 {
        return;
    }
    for (&token, &count) in counts {
        if let Some(l) = logits.get_mut(token as usize) {
            if count > 0 {
                *l -= count as f32 * frequency + presence;
            }
        }
    }
}

/// CTRL-style: a token already seen has its positive logit divided by the penalty and its
/// negative logit multiplied by it (each token once, however often it occurred).
pub fn apply_repetition_penalty(logits: &mut [f32], context: &[u32], penalty: f32) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for &t in context {
        if !seen.insert(t) {
            continue;
        }
        if let Some(l) = logits.get_mut(t as usize) {
            *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logit_bias_adds_and_minus_100_bans() {
        let mut logits = [1.0, 2.0, 3.0, 4.0];
        apply_logit_bias(
            &mut logits,
            &[(0, 100.0), (1, -0.5), (3, -100.0), (99, 5.0)],
        );
        assert_eq!(logits[0], 101.0);
        assert_eq!(logits[1], 1.5);
        assert_eq!(logits[2], 3.0);
        assert_eq!(logits[3], f32::NEG_INFINITY);
    }

    #[test]
    fn frequency_scales_with_the_count_and_presence_does_not() {
        let counts = HashMap::from([(0, 3), (2, 1)]);
        let mut logits = [10.0, 10.0, 10.0];
        apply_frequency_presence(&mut logits, &counts, 0.5, 0.0);
        assert_eq!(logits, [8.5, 10.0, 9.5]);
        let mut logits = [10.0, 10.0, 10.0];
        apply_frequency_presence(&mut logits, &counts, 0.0, 0.25);
        assert_eq!(logits, [9.75, 10.0, 9.75]);
        let mut logits = [10.0, 10.0, 10.0];
        apply_frequency_presence(&mut logits, &counts, 1.0, 1.0);
        assert_eq!(logits, [6.0, 10.0, 8.0]);
        // Negative values encourage repetition, as OpenAI allows.
        let mut logits = [10.0, 10.0, 10.0];
        apply_frequency_presence(&mut logits, &counts, -1.0, 0.0);
        assert_eq!(logits, [13.0, 10.0, 11.0]);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits_once() {
        let mut logits = [4.0, -2.0, 1.0];
        apply_repetition_penalty(&mut logits, &[0, 1, 0, 0], 2.0);
        assert_eq!(logits, [2.0, -4.0, 1.0]);
    }
}

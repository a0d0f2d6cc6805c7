//! OpenAI's sampling fields on the real model: log-probabilities equal the log-softmax of
//! the model's own logits (and agree with llama.cpp's), logit bias forces and bans tokens,
//! frequency and presence penalties change a repetitive greedy answer.

mod model_support;

use hearth::engine::{Engine, GenerateRequest, Step};
use model_support::*;

/// Our logprobs against our own logits: the same forward pass, only the kernel that
/// computes the last row differs (all rows vs the last one).
const SELF_TOLERANCE: f64 = 1e-3;
/// Against llama.cpp: each logit within 0.05 (tests/greedy_fixtures.rs), so a difference
/// of two within 0.1.
const LLAMA_CPP_TOLERANCE: f64 = 0.1;

fn run(engine: &mut Engine, request: GenerateRequest) -> Vec<Step> {
    engine.start(request).expect("start");
    let mut steps = Vec::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        let done = step.finish_reason.is_some();
        steps.push(step);
        if done {
            return steps;
        }
    }
}

fn tokens(steps: &[Step]) -> Vec<u32> {
    steps.iter().filter_map(|s| s.token).collect()
}

/// log-softmax of one row of logits, in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l)) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    row.iter().map(|&l| l as f64 - max - sum.ln()).collect()
}

#[test]
fn greedy_logprobs_are_the_log_softmax_of_the_logits() {
    let fx = fixture();
    let mut engine = engine().lock().unwrap();
    let n_vocab = engine.info().config.n_vocab;
    for (i, case) in fx["logits"].as_array().unwrap().iter().enumerate() {
        let prompt = ids(&case["prompt_ids"]);
        let all = pollster::block_on(engine.logits_all(&prompt)).unwrap();
        let want = log_softmax(&all[(prompt.len() - 1) * n_vocab..]);

        let steps = run(
            &mut engine,
            GenerateRequest {
                prompt_tokens: Some(prompt.clone()),
                temperature: Some(0.0),
                max_tokens: Some(1),
                logprobs: Some(20),
                ..Default::default()
            },
        );
        let lp = steps[0].logprobs.as_ref().expect("logprobs were asked for");
        let best = (0..n_vocab)
            .max_by(|&a, &b| want[a].total_cmp(&want[b]))
            .unwrap();
        assert_eq!(lp.sampled.id as usize, best, "case {i}: greedy token");
        assert!(
            (lp.sampled.logprob as f64 - want[best]).abs() < SELF_TOLERANCE,
            "case {i}: top-1 logprob {} vs log-softmax {}",
            lp.sampled.logprob,
            want[best]
        );
        assert_eq!(lp.top.len(), 20);
        assert_eq!(
            lp.top[0], lp.sampled,
            "case {i}: greedy takes the most likely token"
        );
        for t in &lp.top {
            assert!(
                (t.logprob as f64 - want[t.id as usize]).abs() < SELF_TOLERANCE,
                "case {i}: token {}: {} vs {}",
                t.id,
                t.logprob,
                want[t.id as usize]
            );
        }
        // llama.cpp's top 20: the same ranking up to near ties, the same gaps.
        let reference: Vec<(u32, f64)> = case["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap()))
            .collect();
        assert_eq!(
            lp.top[0].id, reference[0].0,
            "case {i}: llama.cpp's top token"
        );
        for (ours, theirs) in lp.top.iter().zip(&reference) {
            let gap_ours = (lp.top[0].logprob - ours.logprob) as f64;
            let gap_theirs = reference[0].1 - theirs.1;
            assert!(
                (gap_ours - gap_theirs).abs() < LLAMA_CPP_TOLERANCE,
                "case {i}: gap to the top {gap_ours} vs llama.cpp's {gap_theirs}"
            );
        }
        // The token's text and bytes are the vocabulary's.
        assert_eq!(
            lp.sampled.bytes,
            engine.tokenizer().token_bytes(lp.sampled.id).unwrap()
        );
    }
}

#[test]
fn logprobs_keep_greedy_tokens_and_each_step_has_its_own() {
    let case = &fixture()["chat"][0];
    let prompt = ids(&case["prompt_ids"]);
    let mut engine = engine().lock().unwrap();
    let plain = greedy(&mut engine, prompt.clone(), 12);
    let steps = run(
        &mut engine,
        GenerateRequest {
            prompt_tokens: Some(prompt),
            temperature: Some(0.0),
            max_tokens: Some(12),
            logprobs: Some(0),
            ..Default::default()
        },
    );
    assert_eq!(
        tokens(&steps),
        plain,
        "the CPU argmax differs from the GPU's"
    );
    for step in steps.iter().filter(|s| s.token.is_some()) {
        let lp = step.logprobs.as_ref().expect("every token has logprobs");
        assert_eq!(Some(lp.sampled.id), step.token);
        assert!(lp.top.is_empty());
        assert!(lp.sampled.logprob <= 0.0 && lp.sampled.logprob > -30.0);
    }
}

#[test]
fn logit_bias_forces_and_bans_tokens() {
    let case = &fixture()["logits"][1];
    let prompt = ids(&case["prompt_ids"]);
    let top = |k: usize| case["top"][k][0].as_u64().unwrap() as u32;
    let first_token = |engine: &mut Engine, bias: &[(u32, f32)]| {
        let steps = run(
            engine,
            GenerateRequest {
                prompt_tokens: Some(prompt.clone()),
                temperature: Some(0.0),
                max_tokens: Some(1),
                logprobs: Some(1),
                logit_bias: bias.iter().map(|(t, b)| (t.to_string(), *b)).collect(),
                ..Default::default()
            },
        );
        steps[0].logprobs.clone().unwrap()
    };
    let mut engine = engine().lock().unwrap();
    let forced = first_token(&mut engine, &[(top(7), 100.0)]);
    assert_eq!(forced.sampled.id, top(7));
    assert!(forced.sampled.logprob > -1e-3, "{}", forced.sampled.logprob);
    let banned = first_token(&mut engine, &[(top(0), -100.0)]);
    assert_eq!(banned.sampled.id, top(1));
    // A -100 bias is a ban: the token has probability 0 and is not an alternative.
    assert_ne!(banned.top[0].id, top(0));
    // A token outside the vocabulary is an error naming it.
    let error = engine
        .start(GenerateRequest {
            prompt_tokens: Some(prompt.clone()),
            logit_bias: [("999999".to_string(), 1.0)].into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(error.to_string().contains("999999"), "{error}");
}

#[test]
fn penalties_change_a_repetitive_greedy_answer() {
    let mut engine = engine().lock().unwrap();
    let prompt = engine
        .prompt_tokens("I love you. I love you. I love you. I love you.", false)
        .unwrap();
    let answer = |engine: &mut Engine, frequency: f32, presence: f32| {
        tokens(&run(
            engine,
            GenerateRequest {
                prompt_tokens: Some(prompt.clone()),
                temperature: Some(0.0),
                max_tokens: Some(16),
                frequency_penalty: Some(frequency),
                presence_penalty: Some(presence),
                ignore_eos: true,
                ..Default::default()
            },
        ))
    };
    let plain = answer(&mut engine, 0.0, 0.0);
    let frequency = answer(&mut engine, 2.0, 0.0);
    let presence = answer(&mut engine, 0.0, 2.0);
    let text = |t: &[u32]| engine.tokenizer().decode(t).unwrap();
    // Greedy repeats the prompt's sentence; penalized, the answer moves on.
    assert!(
        text(&plain).matches("I love you.").count() >= 3,
        "{:?}",
        text(&plain)
    );
    assert!(
        text(&frequency).matches("I love you.").count() <= 1,
        "{:?}",
        text(&frequency)
    );
    assert!(
        text(&presence).matches("I love you.").count() <= 1,
        "{:?}",
        text(&presence)
    );
    let distinct = |t: &[u32]| t.iter().collect::<std::collections::HashSet<_>>().len();
    assert_ne!(frequency, plain);
    assert_ne!(presence, plain);
    assert!(distinct(&frequency) > distinct(&plain));
    assert!(distinct(&presence) > distinct(&plain));
}

//! The generation loop on the real model: stop conditions, abort, seeds, request errors,
//! and the reuse of a cached prompt prefix across turns.

mod model_support;

use hearth::chat::ChatMessage;
use hearth::engine::{Engine, FinishReason, GenerateRequest, Step};
use hearth::Error;
use model_support::*;

fn run(engine: &mut Engine, req: GenerateRequest) -> (String, Vec<Step>) {
    engine.start(req).expect("start");
    let mut steps = Vec::new();
    let mut text = String::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        text.push_str(&step.delta);
        let done = step.finish_reason.is_some();
        steps.push(step);
        if done {
            return (text, steps);
        }
    }
}

fn chat(content: &str) -> Option<Vec<ChatMessage>> {
    Some(vec![ChatMessage::new("user", content)])
}

#[test]
fn max_tokens_ends_with_length_and_counts_usage() {
    let mut e = engine().lock().unwrap();
    let (_, steps) = run(
        &mut e,
        GenerateRequest {
            prompt: Some("Once upon a time".into()),
            temperature: Some(0.0),
            max_tokens: Some(5),
            ..Default::default()
        },
    );
    let last = steps.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::Length));
    let usage = last.usage.unwrap();
    assert_eq!(usage.completion_tokens, 5);
    assert_eq!(usage.prompt_tokens, 4);
    assert_eq!(usage.total_tokens, 9);
}

#[test]
fn chat_answer_stops_at_end_of_turn_and_names_paris() {
    let mut e = engine().lock().unwrap();
    let (text, steps) = run(
        &mut e,
        GenerateRequest {
            messages: chat("What is the capital of France?"),
            temperature: Some(0.0),
            max_tokens: Some(64),
            ..Default::default()
        },
    );
    assert!(text.contains("Paris"), "{text}");
    assert_eq!(
        steps.last().unwrap().finish_reason,
        Some(FinishReason::Stop)
    );
    assert!(!text.contains("<|im_end|>"));
}

#[test]
fn stop_string_cuts_the_output_before_it() {
    let mut e = engine().lock().unwrap();
    let base = GenerateRequest {
        prompt: Some("Once upon a time, there was a little".into()),
        temperature: Some(0.0),
        max_tokens: Some(24),
        ..Default::default()
    };
    let (full, _) = run(&mut e, base.clone());
    // Stop at the first occurrence of a word the greedy text contains.
    let (stopped, steps) = run(
        &mut e,
        GenerateRequest {
            stop: vec![" play".into()],
            ..base
        },
    );
    let cut = full.find(" play").expect("greedy text mentions ' play'");
    assert_eq!(stopped, full[..cut]);
    assert_eq!(
        steps.last().unwrap().finish_reason,
        Some(FinishReason::Stop)
    );
}

#[test]
fn same_seed_same_text_and_abort_leaves_the_engine_ready() {
    let mut e = engine().lock().unwrap();
    let req = GenerateRequest {
        prompt: Some("The weather today".into()),
        temperature: Some(1.0),
        top_p: Some(0.95),
        seed: Some(42),
        max_tokens: Some(12),
        ..Default::default()
    };
    let (a, _) = run(&mut e, req.clone());
    let (b, _) = run(&mut e, req.clone());
    assert_eq!(a, b);
    let (c, _) = run(
        &mut e,
        GenerateRequest {
            seed: Some(43),
            ..req.clone()
        },
    );
    let (d, _) = run(
        &mut e,
        GenerateRequest {
            seed: Some(44),
            ..req.clone()
        },
    );
    assert!(a != c || a != d, "three seeds gave the same text: {a}");

    e.start(req.clone()).unwrap();
    pollster::block_on(e.step()).unwrap();
    e.abort();
    let step = pollster::block_on(e.step()).unwrap();
    assert_eq!(step.finish_reason, Some(FinishReason::Abort));
    let (again, _) = run(&mut e, req);
    assert_eq!(again, a);
}

#[test]
fn a_cached_prefix_gives_the_same_answer_as_a_fresh_prompt() {
    let mut e = engine().lock().unwrap();
    let first = vec![ChatMessage::new("user", "Hi!")];
    let (reply, _) = run(
        &mut e,
        GenerateRequest {
            messages: Some(first.clone()),
            temperature: Some(0.0),
            max_tokens: Some(16),
            ..Default::default()
        },
    );
    let mut second = first;
    second.push(ChatMessage::new("assistant", reply));
    second.push(ChatMessage::new("user", "Name three colors."));
    let req = GenerateRequest {
        messages: Some(second),
        temperature: Some(0.0),
        max_tokens: Some(16),
        ..Default::default()
    };
    let (warm, warm_steps) = run(&mut e, req.clone());
    let reused = warm_steps.last().unwrap().timings.unwrap().prefill_tokens;
    let prompt_len = warm_steps.last().unwrap().usage.unwrap().prompt_tokens;
    assert!(
        reused < prompt_len,
        "the shared prefix was recomputed ({reused} of {prompt_len})"
    );
    // Break the cache with an unrelated prompt, then ask again from scratch.
    run(
        &mut e,
        GenerateRequest {
            prompt: Some("x".into()),
            max_tokens: Some(1),
            ..Default::default()
        },
    );
    let (cold, _) = run(&mut e, req);
    assert_eq!(warm, cold);
}

#[test]
fn bad_requests_are_typed_errors() {
    let mut e = engine().lock().unwrap();
    let cases = [
        GenerateRequest::default(),
        GenerateRequest {
            prompt: Some("a".into()),
            messages: chat("b"),
            ..Default::default()
        },
        GenerateRequest {
            messages: Some(vec![]),
            ..Default::default()
        },
        GenerateRequest {
            prompt: Some("a".into()),
            max_tokens: Some(0),
            ..Default::default()
        },
        GenerateRequest {
            prompt: Some("a".into()),
            temperature: Some(-1.0),
            ..Default::default()
        },
        GenerateRequest {
            prompt: Some("a".into()),
            top_p: Some(1.5),
            ..Default::default()
        },
        GenerateRequest {
            prompt_tokens: Some(vec![10_000_000]),
            ..Default::default()
        },
        GenerateRequest {
            prompt: Some("a".into()),
            stop: vec![String::new()],
            ..Default::default()
        },
    ];
    for req in cases {
        match e.start(req.clone()) {
            Err(Error::InvalidRequest(_)) => {}
            other => panic!("{req:?} gave {other:?}"),
        }
    }
    let too_long = GenerateRequest {
        prompt_tokens: Some(vec![100; 5000]),
        ..Default::default()
    };
    assert!(matches!(
        e.start(too_long),
        Err(Error::ContextOverflow { .. })
    ));
    assert!(matches!(
        pollster::block_on(e.step()),
        Err(Error::InvalidRequest(_))
    ));
}

//! Soak: many chat turns on the real model, with random lengths, aborts in the middle of a
//! third of them, prompts that overflow the context and conversations that outgrow it, and
//! after every tenth of the run the GPU buffers, GPU memory and process memory, which must not
//! grow once the engine is warm. `HEARTH_SOAK_TURNS` sets the number of turns (24 here and in
//! CI; `make soak` runs 1,000 and prints the samples).

mod model_support;

use hearth::chat::ChatMessage;
use hearth::engine::{Engine, FinishReason, GenerateRequest};
use hearth::Error;
use model_support::*;

/// Context of the soak engine: small, so that conversations reach it.
const CONTEXT: usize = 384;
/// Slack for the process's resident memory between the first sample and any later one
/// (allocator and driver caches settle; a leak of a buffer per turn exceeds it quickly).
const RSS_SLACK: u64 = 24 << 20;

/// A small deterministic generator (splitmix64), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the", "river", "capital", "France", "why", "small", "model", "write", "poem", "about", "cats",
    "number", "seven", "explain", "gravity", "list", "three", "colours", "story", "robot", "tea",
    "garden", "winter", "code",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.below(WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// One sample of what the run holds.
#[derive(Debug, Clone, Copy)]
struct Sample {
    turn: usize,
    buffers: isize,
    buffer_bytes: isize,
    rss: u64,
}

fn sample(engine: &Engine, turn: usize) -> Sample {
    let device = engine.gpu_context().expect("a GPU engine").device();
    // Buffers dropped by the last turn are freed when the device is polled.
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("polling the device");
    let hal = device.get_internal_counters().hal;
    Sample {
        turn,
        buffers: hal.buffers.read(),
        buffer_bytes: hal.buffer_memory.read(),
        rss: resident_bytes(),
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// What one turn ended with.
#[derive(Default, Debug)]
struct Outcomes {
    stop: usize,
    length: usize,
    abort: usize,
    overflow: usize,
}

/// Runs one turn: a chat request, aborted after `abort_after` steps if given. Returns the
/// answer's text (empty after an overflow).
fn turn(
    engine: &mut Engine,
    request: GenerateRequest,
    abort_after: Option<usize>,
    outcomes: &mut Outcomes,
) -> String {
    match engine.start(request) {
        Ok(_) => {}
        Err(Error::ContextOverflow { .. }) => {
            outcomes.overflow += 1;
            return String::new();
        }
        Err(e) => panic!("start: {e}"),
    }
    let mut text = String::new();
    for steps in 1.. {
        if abort_after == Some(steps) {
            engine.abort();
        }
        let step = pollster::block_on(engine.step()).expect("step");
        text.push_str(&step.delta);
        match step.finish_reason {
            None => {}
            Some(FinishReason::Stop) => outcomes.stop += 1,
            Some(FinishReason::Length) => outcomes.length += 1,
            Some(FinishReason::Abort) => outcomes.abort += 1,
            Some(FinishReason::ToolCalls) => panic!("tool calls in a request without tools"),
        }
        if step.finish_reason.is_some() {
            break;
        }
    }
    text
}

#[test]
fn memory_stays_flat_over_many_turns() {
    let turns: usize = std::env::var("HEARTH_SOAK_TURNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let every = (turns / 10).max(1);
    let mut engine = load_engine(&model_path(), Some(CONTEXT));
    let mut rng = Rng(0x5eed);
    let mut conversation: Vec<ChatMessage> = Vec::new();
    let mut outcomes = Outcomes::default();
    let mut samples = Vec::new();

    for t in 1..=turns {
        // A new conversation now and then; otherwise it grows until the engine drops its
        // oldest turns to fit the context.
        if rng.below(8) == 0 {
            conversation.clear();
        }
        let kind = rng.below(12);
        let max_tokens = 1 + rng.below(24);
        let text = if kind == 0 {
            // A raw prompt longer than the context: a typed overflow, nothing generated.
            let ids: Vec<u32> = (0..CONTEXT + 1 + rng.below(64))
                .map(|_| 100 + rng.below(1000) as u32)
                .collect();
            let request = GenerateRequest {
                prompt_tokens: Some(ids),
                max_tokens: Some(max_tokens),
                ..Default::default()
            };
            turn(&mut engine, request, None, &mut outcomes)
        } else {
            let words = 1 + rng.below(if kind == 1 { 120 } else { 16 });
            conversation.push(ChatMessage::new("user", sentence(&mut rng, words)));
            let abort_after = (rng.below(3) == 0).then(|| 1 + rng.below(max_tokens));
            let request = GenerateRequest {
                messages: Some(conversation.clone()),
                temperature: Some(if rng.below(2) == 0 { 0.0 } else { 0.8 }),
                seed: Some(rng.next()),
                max_tokens: Some(max_tokens),
                ..Default::default()
            };
            let answer = turn(&mut engine, request, abort_after, &mut outcomes);
            conversation.push(ChatMessage::new("assistant", answer.clone()));
            answer
        };
        assert!(
            text.len() < 1 << 16,
            "turn {t}: an answer of {} bytes",
            text.len()
        );
        if t % every == 0 {
            let s = sample(&engine, t);
            println!(
                "turn {:5}: {} GPU buffers, {:.1} MiB GPU buffer memory, {:.1} MiB resident",
                s.turn,
                s.buffers,
                s.buffer_bytes as f64 / (1 << 20) as f64,
                s.rss as f64 / (1 << 20) as f64
            );
            samples.push(s);
        }
    }
    println!("outcomes: {outcomes:?}");

    let first = samples[0];
    for s in &samples[1..] {
        assert_eq!(s.buffers, first.buffers, "GPU buffers grew: {samples:#?}");
        assert_eq!(
            s.buffer_bytes, first.buffer_bytes,
            "GPU memory grew: {samples:#?}"
        );
        assert!(
            s.rss <= first.rss + RSS_SLACK,
            "resident memory grew by {} MiB: {samples:#?}",
            (s.rss - first.rss) >> 20
        );
    }
    assert!(outcomes.abort >= turns / 6, "{outcomes:?}");
    assert!(outcomes.overflow > 0 && outcomes.length > 0, "{outcomes:?}");
}

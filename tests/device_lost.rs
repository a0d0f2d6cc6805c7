//! A GPU device that goes away (driver reset, the browser reclaiming it, `destroy`) fails
//! the step in flight with the typed `GpuLost` error, and every later one the same way, so
//! the caller knows to rebuild the engine on a new device rather than report a bug; a new
//! engine on a new device answers as before.

mod model_support;

use hearth::engine::{Engine, GenerateRequest};
use hearth::Error;
use model_support::*;

fn greedy(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        prompt: Some(prompt.into()),
        temperature: Some(0.0),
        max_tokens: Some(8),
        ..Default::default()
    }
}

fn tokens(engine: &mut Engine, request: GenerateRequest) -> Vec<u32> {
    engine.start(request).expect("start");
    let mut ids = Vec::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        ids.extend(step.token);
        if step.finish_reason.is_some() {
            return ids;
        }
    }
}

#[test]
fn a_lost_device_fails_typed_and_a_new_engine_recovers() {
    let path = model_path();
    let mut engine = load_engine(&path, Some(256));
    let before = tokens(&mut engine, greedy("The capital of France is"));
    let device = engine.gpu_context().expect("a GPU engine").clone();
    assert_eq!(device.lost_reason(), None);

    engine.start(greedy("Once upon a time")).expect("start");
    pollster::block_on(engine.step()).expect("a step before the loss");
    device.destroy();
    let error = pollster::block_on(engine.step()).expect_err("a step on a destroyed device");
    assert!(matches!(error, Error::GpuLost(_)), "{error:?}");
    assert_eq!(error.code(), "gpu_lost");
    assert!(device.lost_reason().is_some());
    engine.start(greedy("Again")).expect("start");
    let again = pollster::block_on(engine.step()).expect_err("every later step");
    assert!(matches!(again, Error::GpuLost(_)), "{again:?}");
    drop(engine);

    let mut fresh = load_engine(&path, Some(256));
    assert_eq!(
        tokens(&mut fresh, greedy("The capital of France is")),
        before
    );
}

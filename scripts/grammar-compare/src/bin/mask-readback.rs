//! Where a token mask is cheaper to apply, for greedy decoding on a GPU: on the CPU, the
//! whole logits row is read back (what hearth does under a grammar), against the GPU's
//! argmax reading back 4 bytes (what a mask applied on the GPU would keep). The same greedy
//! answer both ways: a `logit_bias` of 0 changes no logit but sends the step down the
//! read-back path. Rounds alternate, so drift hits both alike.

use std::collections::BTreeMap;
use std::path::Path;

use hearth::backend::Backend;
use hearth::engine::{Engine, EngineLoader, GenerateRequest, LoadOptions};
use hearth::gpu::GpuContext;

const TOKENS: usize = 64;
const ROUNDS: usize = 3;

fn decode_ms_per_token(engine: &mut Engine, read_back_logits: bool) -> (f64, Vec<u32>) {
    let mut logit_bias = BTreeMap::new();
    if read_back_logits {
        logit_bias.insert("0".to_string(), 0.0);
    }
    engine
        .start(GenerateRequest {
            prompt: Some("The history of the printing press".into()),
            temperature: Some(0.0),
            max_tokens: Some(TOKENS),
            ignore_eos: true,
            logit_bias,
            ..Default::default()
        })
        .expect("start");
    let mut ids = Vec::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        ids.extend(step.token);
        if let Some(t) = step.timings {
            return (t.decode_ms / t.decode_tokens as f64, ids);
        }
    }
}

fn main() {
    let model = std::env::args().nth(1).expect("usage: mask-readback MODEL");
    let gpu = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let mut engine = pollster::block_on(EngineLoader::load_path(
        Backend::Gpu(gpu),
        LoadOptions::default(),
        Path::new(&model),
        |_, _| {},
    ))
    .expect("load");
    decode_ms_per_token(&mut engine, false);
    let (mut argmax, mut logits) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (a, a_ids) = decode_ms_per_token(&mut engine, false);
        let (l, l_ids) = decode_ms_per_token(&mut engine, true);
        assert_eq!(a_ids, l_ids, "the two paths must answer alike");
        argmax.push(a);
        logits.push(l);
    }
    let n_vocab = engine.info().config.n_vocab;
    println!(
        "{model}: vocabulary {n_vocab}; decode ms/token, argmax on the GPU (4 B read back): {argmax:.2?}; \
         logits read back ({} KiB) for a CPU mask: {logits:.2?}",
        n_vocab * 4 / 1024
    );
}

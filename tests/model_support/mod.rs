//! Shared by the tests that run the real model: paths, the llama.cpp fixture, the
//! fixture's greedy-comparison rule, and one engine per test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use hearth::backend::Backend;
use hearth::engine::{Engine, EngineLoader, GenerateRequest, LoadOptions, Step};
use hearth::gpu::GpuContext;
use serde_json::Value;

pub const MODEL_FILE: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// A real model and its llama.cpp fixture.
pub struct RealModel {
    pub file: &'static str,
    pub fixture: &'static str,
}

pub const SMOLLM2: RealModel = RealModel {
    file: MODEL_FILE,
    fixture: "tests/fixtures/smollm2-135m-q4_1.json",
};

/// Qwen2.5-Coder-0.5B-Instruct Q4_K_M: Q4_K, Q5_0, Q6_K and Q8_0 tensors, QKV biases.
pub const QWEN_05B: RealModel = RealModel {
    file: "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    fixture: "tests/fixtures/qwen2.5-coder-0.5b-instruct-q4_k_m.json",
};

/// Gemma 3 270M (base) Q4_K_M: a 262k vocabulary, head_dim 256, sliding-window layers.
pub const GEMMA3: RealModel = RealModel {
    file: "models/gemma-3-270m-q4_k_m.gguf",
    fixture: "tests/fixtures/gemma-3-270m-q4_k_m.json",
};

impl RealModel {
    pub fn path(&self) -> PathBuf {
        let p = repo_path(self.file);
        assert!(
            p.exists(),
            "{} is missing: run scripts/fetch-models.sh all",
            p.display()
        );
        p
    }

    pub fn fixture(&self) -> Value {
        let text = std::fs::read_to_string(repo_path(self.fixture)).expect(self.fixture);
        serde_json::from_str(&text).expect("fixture JSON")
    }

    /// One engine on this model, shared by the tests of a binary.
    pub fn engine(&self) -> &'static Mutex<Engine> {
        static SMOLLM2_ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
        static QWEN_ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
        static GEMMA_ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
        let cell = match self.file {
            f if f == QWEN_05B.file => &QWEN_ENGINE,
            f if f == GEMMA3.file => &GEMMA_ENGINE,
            _ => &SMOLLM2_ENGINE,
        };
        cell.get_or_init(|| Mutex::new(load_engine(&self.path(), Some(1024))))
    }
}

/// A step whose top-1/top-2 logit gap in llama.cpp was below this may legitimately differ.
pub const NEAR_TIE: f64 = 0.1;
/// Greedy continuations are compared over at most this many tokens (the acceptance rule).
pub const GREEDY_COMPARE: usize = 48;

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn model_path() -> PathBuf {
    SMOLLM2.path()
}

pub fn fixture() -> Value {
    SMOLLM2.fixture()
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array of ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

pub fn load_engine(path: &Path, context_length: Option<usize>) -> Engine {
    std::env::set_var(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or("/tmp".into()),
    );
    let gpu = pollster::block_on(GpuContext::new()).unwrap_or_else(|e| {
        panic!("no GPU adapter ({e}); install mesa-vulkan-drivers (lavapipe) to run these tests")
    });
    load_engine_on(path, context_length, Backend::Gpu(gpu))
}

/// Loads `path` onto `backend`.
pub fn load_engine_on(path: &Path, context_length: Option<usize>, backend: Backend) -> Engine {
    pollster::block_on(EngineLoader::load_path(
        backend,
        LoadOptions { context_length },
        path,
        |_, _| {},
    ))
    .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// Set (to anything) by `make test-models`: the larger models' greedy checks run every case
/// of their fixture rather than the first of each kind.
pub const ALL_CASES_VAR: &str = "HEARTH_ALL_FIXTURE_CASES";

/// The fixture cases of one kind ("chat", "raw") whose greedy continuations are checked:
/// all of SmolLM2's; of the larger models, the first (each case costs the 2-core CI machine
/// a minute or more on Qwen2.5 0.5B), or all with `ALL_CASES_VAR` set.
pub fn greedy_cases(model: &RealModel, fixture: &Value, kind: &str) -> Vec<Value> {
    first_cases_unless_all(model.file, fixture, kind, model.file == SMOLLM2.file)
}

/// Every case of one kind ("chat", "raw") of `fixture` when `all` or `ALL_CASES_VAR` is
/// set, else the first; says so when some are left out.
pub fn first_cases_unless_all(what: &str, fixture: &Value, kind: &str, all: bool) -> Vec<Value> {
    let cases = fixture[kind].as_array().expect("fixture cases");
    let all = all || std::env::var_os(ALL_CASES_VAR).is_some();
    let checked = if all { cases.len() } else { cases.len().min(1) };
    if checked < cases.len() {
        eprintln!(
            "{what}: {checked} of {} {kind} cases ({ALL_CASES_VAR}=1 for all)",
            cases.len()
        );
    }
    cases[..checked].to_vec()
}

/// The fixture's chat cases: greedy continuations of the chat prompts.
pub fn check_chat_greedy(model: &RealModel, engine: &mut Engine) {
    let fx = model.fixture();
    for (i, case) in greedy_cases(model, &fx, "chat").iter().enumerate() {
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(
            engine,
            ids(&case["prompt_ids"]),
            want.len().min(GREEDY_COMPARE),
        );
        let compared = check_greedy(&format!("chat case {i}"), &ours, case);
        eprintln!("{}: chat case {i}: {compared} steps identical", model.file);
    }
}

/// The fixture's raw cases: tokenization of the raw prompt, then its greedy continuation.
pub fn check_raw_greedy(model: &RealModel, engine: &mut Engine) {
    let fx = model.fixture();
    for (i, case) in greedy_cases(model, &fx, "raw").iter().enumerate() {
        let prompt = ids(&case["prompt_ids"]);
        assert_eq!(
            engine
                .prompt_tokens(case["prompt"].as_str().unwrap(), false)
                .unwrap(),
            prompt,
            "raw case {i}: tokenization"
        );
        let want = ids(&case["greedy_ids"]);
        let ours = greedy(engine, prompt, want.len().min(GREEDY_COMPARE));
        let compared = check_greedy(&format!("raw case {i}"), &ours, case);
        eprintln!("{}: raw case {i}: {compared} steps identical", model.file);
    }
}

/// One engine on SmolLM2, shared by the tests of a binary.
pub fn engine() -> &'static Mutex<Engine> {
    SMOLLM2.engine()
}

/// Runs `request` to its end: the text it streamed and its last step.
pub fn answer(engine: &mut Engine, request: GenerateRequest) -> (String, Step) {
    engine.start(request).expect("start");
    let mut text = String::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        text.push_str(&step.delta);
        if step.finish_reason.is_some() {
            return (text, step);
        }
    }
}

/// Greedy generation of up to `max_tokens` tokens from `prompt`.
pub fn greedy(engine: &mut Engine, prompt: Vec<u32>, max_tokens: usize) -> Vec<u32> {
    engine
        .start(GenerateRequest {
            prompt_tokens: Some(prompt),
            temperature: Some(0.0),
            max_tokens: Some(max_tokens),
            ..Default::default()
        })
        .expect("start");
    let mut out = Vec::new();
    loop {
        let step = pollster::block_on(engine.step()).expect("step");
        out.extend(step.token);
        if step.finish_reason.is_some() {
            return out;
        }
    }
}

/// The fixture's rule: tokens must be identical for all 48 steps; a divergence is
/// accepted only at a step where llama.cpp's top-2 margin is below 0.1 (after which the
/// contexts differ and comparison stops). Returns how many steps were compared.
pub fn check_greedy(case: &str, ours: &[u32], case_json: &Value) -> usize {
    let expected = ids(&case_json["greedy_ids"]);
    let margins: Vec<f64> = case_json["top2_margins"]
        .as_array()
        .expect("top2_margins")
        .iter()
        .map(|m| m.as_f64().expect("margin"))
        .collect();
    let n = expected.len().min(GREEDY_COMPARE);
    for i in 0..n {
        match ours.get(i) {
            Some(&t) if t == expected[i] => continue,
            other => {
                assert!(
                    margins.get(i).is_some_and(|&m| m < NEAR_TIE),
                    "{case}: step {i} gave {other:?}, llama.cpp gave {} with margin {:?} (not a near-tie)\n ours: {ours:?}\n want: {expected:?}",
                    expected[i],
                    margins.get(i)
                );
                return i;
            }
        }
    }
    n
}

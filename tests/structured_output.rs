//! Structured output on SmolLM2 (CPU backend): answers constrained by a JSON schema parse
//! and follow it at any temperature and seed, `json_object` gives an object, a required
//! tool call's arguments follow the tool's parameters, and a bad schema is refused by name.

mod model_support;

use hearth::backend::cpu::Activations;
use hearth::backend::Backend;
use hearth::chat::ChatMessage;
use hearth::engine::{Engine, FinishReason, GenerateRequest, JsonSchemaFormat, ResponseFormat};
use hearth::error::Error;
use model_support::*;
use serde_json::{json, Value};

/// Nested object, enum, array, integer range, pattern, required fields.
fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "maxLength": 24 },
            "age": { "type": "integer", "minimum": 0, "maximum": 120 },
            "role": { "type": "string", "enum": ["admin", "user", "guest"] },
            "tags": {
                "type": "array",
                "items": { "type": "string", "maxLength": 12 },
                "minItems": 1,
                "maxItems": 3
            },
            "address": {
                "type": "object",
                "properties": {
                    "city": { "type": "string", "maxLength": 24 },
                    "zip": { "type": "string", "pattern": "^[0-9]{5}$" }
                },
                "required": ["city", "zip"],
                "additionalProperties": false
            }
        },
        "required": ["name", "age", "role", "tags", "address"],
        "additionalProperties": false
    })
}

/// The schema's rules, checked one by one on an answer.
fn check_person(value: &Value) -> Result<(), String> {
    let object = value.as_object().ok_or("not an object")?;
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    if keys != ["address", "age", "name", "role", "tags"] {
        return Err(format!("keys {keys:?}"));
    }
    let short = |v: &Value, max: usize| v.as_str().is_some_and(|s| s.chars().count() <= max);
    if !short(&value["name"], 24) {
        return Err("name".into());
    }
    if value["age"].as_u64().is_none_or(|age| age > 120) {
        return Err("age".into());
    }
    if !["admin", "user", "guest"].contains(&value["role"].as_str().unwrap_or("")) {
        return Err("role".into());
    }
    let tags = value["tags"].as_array().ok_or("tags")?;
    if tags.is_empty() || tags.len() > 3 || !tags.iter().all(|t| short(t, 12)) {
        return Err("tags".into());
    }
    let address = value["address"].as_object().ok_or("address")?;
    let zip = address.get("zip").and_then(Value::as_str).unwrap_or("");
    if address.len() != 2 || !short(&value["address"]["city"], 24) {
        return Err("address".into());
    }
    if zip.len() != 5 || !zip.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("zip {zip:?}"));
    }
    Ok(())
}

const PERSON: &str = "Describe a made-up person as JSON.";
const CAPITAL: &str = "What is the capital of France? Answer in JSON.";

fn ask(question: &str, format: ResponseFormat, temperature: f32, seed: u64) -> GenerateRequest {
    GenerateRequest {
        messages: Some(vec![ChatMessage::new("user", question)]),
        response_format: Some(format),
        temperature: Some(temperature),
        seed: Some(seed),
        max_tokens: Some(200),
        ..Default::default()
    }
}

fn smollm2() -> Engine {
    load_engine_on(
        &SMOLLM2.path(),
        Some(1024),
        Backend::Cpu(Activations::Int16),
    )
}

#[test]
fn answers_follow_a_json_schema_at_every_seed() {
    let mut engine = smollm2();
    let format = ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "person".into(),
            description: None,
            schema: Some(person_schema()),
            strict: Some(true),
        },
    };
    let (mut masks, mut mask_ms) = (0, 0.0);
    for seed in 0..10 {
        let (text, last) = answer(&mut engine, ask(PERSON, format.clone(), 0.9, seed));
        assert_eq!(
            last.finish_reason,
            Some(FinishReason::Stop),
            "seed {seed}: {text}"
        );
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("seed {seed}: not JSON ({e}): {text}"));
        check_person(&value).unwrap_or_else(|e| panic!("seed {seed}: {e}: {text}"));
        let timings = last.timings.unwrap();
        masks += timings.mask_count;
        mask_ms += timings.mask_ms;
    }
    // One mask per generated token.
    assert!(masks > 10 * 20, "{masks} masks");
    eprintln!(
        "grammar masks: {masks}, {:.3} ms each on average",
        mask_ms / masks as f64
    );
}

#[test]
fn json_object_gives_an_object_and_text_is_free() {
    let mut engine = smollm2();
    let (text, last) = answer(
        &mut engine,
        ask(CAPITAL, ResponseFormat::JsonObject, 0.0, 0),
    );
    assert_eq!(last.finish_reason, Some(FinishReason::Stop), "{text}");
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(value.is_object(), "{text}");
    // "text" is no constraint: the greedy answer is the unconstrained one.
    let plain = GenerateRequest {
        response_format: None,
        ..ask(CAPITAL, ResponseFormat::Text, 0.0, 0)
    };
    let (text_format, _) = answer(&mut engine, ask(CAPITAL, ResponseFormat::Text, 0.0, 0));
    let (unconstrained, last) = answer(&mut engine, plain);
    assert_eq!(text_format, unconstrained);
    assert_eq!(last.timings.unwrap().mask_count, 0);
}

#[test]
fn a_bad_schema_is_refused_by_name() {
    let mut engine = smollm2();
    let format = ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "bad".into(),
            description: None,
            schema: Some(json!({ "type": "object", "properties": { "a": { "type": 5 } } })),
            strict: None,
        },
    };
    match engine.start(ask(PERSON, format, 0.0, 0)) {
        Err(Error::InvalidRequest(message)) => {
            assert!(message.contains("response_format"), "{message}")
        }
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

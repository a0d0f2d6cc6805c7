//! Tool calls on Qwen2.5-Coder-0.5B (CPU backend, greedy): the tools reach the prompt
//! through the model's own template, the answer's `<tool_call>` becomes a call with
//! `finish_reason: tool_calls`, and the tool's result, sent back as a `tool` message,
//! shapes the next answer. `tool_choice` forces calls (their arguments constrained by the
//! tool's schema) or withholds them.

mod model_support;

use hearth::backend::cpu::Activations;
use hearth::backend::Backend;
use hearth::chat::ChatMessage;
use hearth::engine::{Engine, FinishReason, FunctionName, GenerateRequest, ToolChoice};
use hearth::error::Error;
use model_support::*;
use serde_json::{json, Value};

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": { "type": "string", "description": "The city, e.g. Paris" },
                    "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] }
                },
                "required": ["city"]
            }
        }
    })
}

fn time_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Get the current time in a time zone",
            "parameters": {
                "type": "object",
                "properties": { "zone": { "type": "string" } },
                "required": ["zone"]
            }
        }
    })
}

fn request(
    messages: Vec<ChatMessage>,
    tools: Vec<Value>,
    choice: Option<ToolChoice>,
) -> GenerateRequest {
    GenerateRequest {
        messages: Some(messages),
        tools,
        tool_choice: choice,
        temperature: Some(0.0),
        max_tokens: Some(96),
        ..Default::default()
    }
}

fn qwen() -> Engine {
    load_engine_on(
        &QWEN_05B.path(),
        Some(2048),
        Backend::Cpu(Activations::Int16),
    )
}

#[test]
fn a_weather_question_round_trips_through_a_tool() {
    let mut engine = qwen();
    let mut conversation = vec![
        ChatMessage::new(
            "system",
            "Answer the user's question in one sentence, using the tool results.",
        ),
        ChatMessage::new("user", "What is the weather like in Paris right now?"),
    ];
    let tools = vec![weather_tool(), time_tool()];
    let (text, last) = answer(
        &mut engine,
        request(conversation.clone(), tools.clone(), None),
    );
    assert_eq!(
        last.finish_reason,
        Some(FinishReason::ToolCalls),
        "answered {text:?}"
    );
    assert!(!text.contains("<tool_call>"), "{text:?}");
    let calls = last.tool_calls.expect("tool calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].kind, "function");
    assert_eq!(calls[0].function.name, "get_weather");
    assert!(calls[0].id.starts_with("call_"), "{}", calls[0].id);
    let arguments: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert!(
        arguments["city"]
            .as_str()
            .is_some_and(|c| c.contains("Paris")),
        "{arguments}"
    );

    // The call and its result go back; the answer uses the result.
    let mut call_message = ChatMessage::new("assistant", text);
    call_message.tool_calls = calls.clone();
    let mut result = ChatMessage::new("tool", r#"{"temperature": 31, "unit": "celsius"}"#);
    result.tool_call_id = Some(calls[0].id.clone());
    conversation.extend([call_message, result]);
    let prompt = engine.render_chat(&conversation).unwrap();
    assert!(
        prompt.contains("<tool_response>\n{\"temperature\": 31"),
        "{prompt}"
    );
    assert!(
        prompt.contains("\"arguments\": {\"city\": \"Paris\""),
        "{prompt}"
    );
    // The 0.5B model calls the tool again when it may: "none" asks for the answer.
    let none = Some(ToolChoice::Mode("none".into()));
    let (reply, last) = answer(&mut engine, request(conversation, tools, none));
    assert_eq!(
        last.finish_reason,
        Some(FinishReason::Stop),
        "answered {reply:?}"
    );
    assert!(last.tool_calls.is_none());
    assert!(
        reply.contains("31"),
        "the answer does not use the tool's result: {reply:?}"
    );
}

#[test]
fn tool_choice_forces_or_withholds_calls() {
    let mut engine = qwen();
    let greeting = vec![ChatMessage::new("user", "Say hello to me.")];
    let tools = vec![weather_tool(), time_tool()];

    // A named function is called even when the question does not need it.
    let named = ToolChoice::Function {
        kind: "function".into(),
        function: FunctionName {
            name: "get_time".into(),
        },
    };
    let (text, last) = answer(
        &mut engine,
        request(greeting.clone(), tools.clone(), Some(named)),
    );
    assert_eq!(
        last.finish_reason,
        Some(FinishReason::ToolCalls),
        "answered {text:?}"
    );
    let calls = last.tool_calls.unwrap();
    assert_eq!(calls[0].function.name, "get_time");
    // The arguments follow the tool's parameters: the grammar required them.
    let arguments: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert!(arguments["zone"].is_string(), "{arguments}");

    // "required": some call.
    let required = Some(ToolChoice::Mode("required".into()));
    let (text, last) = answer(
        &mut engine,
        request(greeting.clone(), tools.clone(), required),
    );
    assert_eq!(
        last.finish_reason,
        Some(FinishReason::ToolCalls),
        "answered {text:?}"
    );

    // "none": the prompt is the one without tools, and the answer is text.
    let none = Some(ToolChoice::Mode("none".into()));
    let (with_none, last) = answer(&mut engine, request(greeting.clone(), tools, none));
    assert_eq!(last.finish_reason, Some(FinishReason::Stop));
    let (without_tools, _) = answer(&mut engine, request(greeting, vec![], None));
    assert_eq!(with_none, without_tools);
}

#[test]
fn bad_tool_requests_are_refused_by_name() {
    let mut engine = qwen();
    let hi = vec![ChatMessage::new("user", "hi")];
    let cases = [
        (
            request(hi.clone(), vec![json!({"type": "function"})], None),
            "tools[0]",
        ),
        (
            request(
                hi.clone(),
                vec![],
                Some(ToolChoice::Mode("required".into())),
            ),
            "needs `tools`",
        ),
        (
            request(
                hi.clone(),
                vec![weather_tool()],
                Some(ToolChoice::Function {
                    kind: "function".into(),
                    function: FunctionName {
                        name: "launch".into(),
                    },
                }),
            ),
            "not among `tools`",
        ),
        (
            request(
                hi,
                vec![weather_tool()],
                Some(ToolChoice::Mode("sometimes".into())),
            ),
            "tool_choice",
        ),
    ];
    for (request, why) in cases {
        match engine.start(request) {
            Err(Error::InvalidRequest(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("expected invalid_request ({why}), got {other:?}"),
        }
    }
}

#[test]
fn a_model_whose_template_has_no_tool_syntax_refuses_tools() {
    let mut engine = load_engine_on(&SMOLLM2.path(), Some(512), Backend::Cpu(Activations::Int16));
    let hi = vec![ChatMessage::new("user", "hi")];
    match engine.start(request(hi, vec![weather_tool()], None)) {
        Err(Error::InvalidRequest(message)) => assert!(message.contains("tools"), "{message}"),
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

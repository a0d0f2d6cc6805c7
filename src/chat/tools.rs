//! Tool calls. The request's tools reach the template as `tools` (Hugging Face's
//! convention: OpenAI's tool objects, unchanged), earlier calls as each assistant
//! message's `tool_calls` with `arguments` as an object, which is what templates print.
//! The model answers in the syntax its template taught it; [`ToolCallSyntax`] knows which
//! one a template uses and splits an answer into text and calls.

use serde::{Deserialize, Serialize};

use super::ChatMessage;

/// A call the model made (OpenAI's `tool_calls[i]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as JSON text, as OpenAI gives them.
    pub arguments: String,
}

fn function_kind() -> String {
    "function".into()
}

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallSyntax {
    /// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, once per call (Qwen
    /// 2.5 and 3, Hermes and the templates that copied them). Small models also answer
    /// with the bare object, `{"name": ...`, which counts when the answer begins with it
    /// (as llama.cpp reads them).
    Hermes,
}

const HERMES_OPEN: &str = "<tool_call>";
const HERMES_CLOSE: &str = "</tool_call>";

impl ToolCallSyntax {
    /// The syntax a template teaches its model, if hearth knows it.
    pub fn of_template(source: &str) -> Option<Self> {
        source
            .contains(HERMES_OPEN)
            .then_some(ToolCallSyntax::Hermes)
    }

    /// Where the calls of an answer begin: text before it is the answer's content.
    pub fn opening(self) -> &'static str {
        match self {
            ToolCallSyntax::Hermes => HERMES_OPEN,
        }
    }

    /// The texts that mark calls: a model may have them as special tokens, which an
    /// answer must print to be read.
    pub fn markers(self) -> &'static [&'static str] {
        match self {
            ToolCallSyntax::Hermes => &[HERMES_OPEN, HERMES_CLOSE],
        }
    }

    /// Whether an answer that begins with `text` is a call without the opening: `None`
    /// while `text` is too short to tell.
    pub fn is_bare_call(self, text: &str) -> Option<bool> {
        match self {
            ToolCallSyntax::Hermes => {
                const KEY: &str = "\"name\"";
                let text = text.trim_start();
                let Some(rest) = text.strip_prefix('{') else {
                    return (!text.is_empty()).then_some(false);
                };
                let rest = rest.trim_start();
                if rest.len() >= KEY.len() {
                    Some(rest.starts_with(KEY))
                } else if KEY.starts_with(rest) {
                    None
                } else {
                    Some(false)
                }
            }
        }
    }

    /// What an answer that must be a call starts with; the call object that follows is
    /// constrained by [`call_schema`].
    pub fn forced_start(self) -> &'static str {
        match self {
            ToolCallSyntax::Hermes => "<tool_call>\n",
        }
    }

    /// The calls in `text`, which starts at [`Self::opening`] (or is a bare call); `None`
    /// when any of them is not a well-formed call (the text is then the answer's
    /// content). Call ids are `call_<id_base><index>`.
    pub fn parse(self, text: &str, id_base: &str) -> Option<Vec<ToolCall>> {
        match self {
            ToolCallSyntax::Hermes => {
                let mut calls = Vec::new();
                let mut rest = text.trim_start();
                if rest.starts_with('{') {
                    // Bare objects, one after another.
                    let objects = serde_json::Deserializer::from_str(rest).into_iter();
                    for object in objects {
                        let object: serde_json::Value = object.ok()?;
                        let id = format!("call_{id_base}{}", calls.len());
                        calls.push(call_of(&object, id)?);
                    }
                    return (!calls.is_empty()).then_some(calls);
                }
                while !rest.is_empty() {
                    rest = rest.strip_prefix(HERMES_OPEN)?;
                    let (body, after) = match rest.find(HERMES_CLOSE) {
                        Some(end) => (&rest[..end], &rest[end + HERMES_CLOSE.len()..]),
                        // The last call may end at the end of the answer.
                        None => (rest, ""),
                    };
                    let id = format!("call_{id_base}{}", calls.len());
                    calls.push(parse_call_object(body, id)?);
                    rest = after.trim_start();
                }
                (!calls.is_empty()).then_some(calls)
            }
        }
    }
}

/// The JSON schema of a call object, `{"name": ..., "arguments": {...}}`, of one of
/// `tools` (OpenAI's tool objects), or of the one called `name`: its arguments follow the
/// tool's `parameters`.
pub fn call_schema(tools: &[serde_json::Value], name: Option<&str>) -> serde_json::Value {
    let calls: Vec<serde_json::Value> = tools
        .iter()
        .filter_map(|tool| {
            let function = tool.get("function")?;
            let tool_name = function.get("name")?.as_str()?;
            if name.is_some_and(|name| name != tool_name) {
                return None;
            }
            let parameters = function
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({ "type": "object" }));
            Some(serde_json::json!({
                "type": "object",
                "properties": { "name": { "const": tool_name }, "arguments": parameters },
                "required": ["name", "arguments"],
                "additionalProperties": false
            }))
        })
        .collect();
    match <[_; 1]>::try_from(calls) {
        Ok([one]) => one,
        Err(calls) => serde_json::json!({ "anyOf": calls }),
    }
}

/// `{"name": ..., "arguments": {...}}` (arguments may also be JSON text).
fn parse_call_object(body: &str, id: String) -> Option<ToolCall> {
    call_of(&serde_json::from_str(body.trim()).ok()?, id)
}

fn call_of(value: &serde_json::Value, id: String) -> Option<ToolCall> {
    let name = value.get("name")?.as_str()?.to_string();
    let arguments = match value.get("arguments") {
        None | Some(serde_json::Value::Null) => "{}".to_string(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(object) => object.to_string(),
    };
    Some(ToolCall {
        id,
        kind: function_kind(),
        function: FunctionCall { name, arguments },
    })
}

/// `messages` as templates read them: a call's `arguments` as the object its JSON text
/// holds (text that is not an object stays text).
pub(super) fn template_messages(messages: &[ChatMessage]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .map(|message| {
            let mut value = serde_json::to_value(message).unwrap_or_default();
            let calls = value.get_mut("tool_calls").and_then(|c| c.as_array_mut());
            for call in calls.into_iter().flatten() {
                if let Some(arguments) = call.pointer_mut("/function/arguments") {
                    let parsed = arguments
                        .as_str()
                        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                        .filter(serde_json::Value::is_object);
                    if let Some(object) = parsed {
                        *arguments = object;
                    }
                }
            }
            value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_calls_are_parsed_with_text_or_object_arguments() {
        let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n\
                    <tool_call>\n{\"name\": \"now\", \"arguments\": \"{}\"}\n</tool_call>";
        let calls = ToolCallSyntax::Hermes.parse(text, "x").unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "call_x0");
        assert_eq!(calls[0].kind, "function");
        assert_eq!(calls[0].function.name, "get_weather");
        assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
        assert_eq!(calls[1].function.arguments, "{}");
        // A call cut off before its closing tag still counts when its JSON is whole.
        let open = "<tool_call>\n{\"name\": \"now\"}";
        assert_eq!(
            ToolCallSyntax::Hermes.parse(open, "y").unwrap()[0]
                .function
                .arguments,
            "{}"
        );
    }

    #[test]
    fn bare_calls_count_at_the_start_of_an_answer() {
        let hermes = ToolCallSyntax::Hermes;
        assert_eq!(hermes.is_bare_call(" "), None);
        assert_eq!(hermes.is_bare_call("\n{ \"na"), None);
        assert_eq!(hermes.is_bare_call("{\"name\": \"f\""), Some(true));
        assert_eq!(hermes.is_bare_call("{\"city\""), Some(false));
        assert_eq!(hermes.is_bare_call("Sure"), Some(false));
        let text = "{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n{\"name\": \"g\"}";
        let calls = hermes.parse(text, "b").unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].function.name, "g");
        assert_eq!(hermes.parse("{\"name\": \"f\"} trailing words", "b"), None);
    }

    #[test]
    fn malformed_calls_are_not_calls() {
        for text in [
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": </tool_call>",
            "<tool_call>\n{\"arguments\": {}}\n</tool_call>",
            "<tool_call>{\"name\": \"a\"}</tool_call> and then some text",
            "<tool_call></tool_call>",
        ] {
            assert_eq!(ToolCallSyntax::Hermes.parse(text, "z"), None, "{text}");
        }
    }

    #[test]
    fn templates_read_arguments_as_objects() {
        let mut message = ChatMessage::new("assistant", "");
        message.tool_calls = vec![ToolCall {
            id: "call_1".into(),
            kind: function_kind(),
            function: FunctionCall {
                name: "f".into(),
                arguments: r#"{"a": 1}"#.into(),
            },
        }];
        let view = template_messages(&[message]);
        assert_eq!(view[0]["tool_calls"][0]["function"]["arguments"]["a"], 1);
        assert!(view[0].get("tool_call_id").is_none());
    }
}

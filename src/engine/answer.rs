//! The answer as it streams: content, cut at the request's stop strings, and — when the
//! request offers tools — the tool calls that begin where the model writes its syntax's
//! opening, held back from the content and parsed when the generation ends.

use crate::chat::{ToolCall, ToolCallSyntax};

use super::stop::{StopMatcher, StopOutcome};
use super::FinishReason;

pub(crate) struct Answer {
    stops: StopMatcher,
    tools: Option<ToolCalls>,
    /// A stop string ended the content: nothing after it is part of the answer.
    stopped: bool,
}

struct ToolCalls {
    syntax: ToolCallSyntax,
    /// Finds the opening in the content.
    opening: StopMatcher,
    /// The text from the opening on, once it appeared.
    text: Option<String>,
    /// The answer's first text, held while it may be a call without the opening.
    start: Option<String>,
    /// Ids of this answer's calls start with it.
    id_base: String,
}

/// What ends an answer: its last content, its calls, and why it ended.
pub(crate) struct Ending {
    pub content: String,
    pub tool_calls: Option<Vec<ToolCall>>,
    pub reason: FinishReason,
}

impl Answer {
    pub fn new(stops: Vec<String>) -> Self {
        Answer {
            stops: StopMatcher::new(stops),
            tools: None,
            stopped: false,
        }
    }

    /// An answer that may call tools written in `syntax`; `forced_start` is what the prompt
    /// already made it begin with (a call the request requires), empty otherwise.
    pub fn with_tools(
        stops: Vec<String>,
        syntax: ToolCallSyntax,
        forced_start: &str,
        id_base: String,
    ) -> Self {
        Answer {
            stops: StopMatcher::new(stops),
            tools: Some(ToolCalls {
                syntax,
                opening: StopMatcher::new(vec![syntax.opening().to_string()]),
                text: (!forced_start.is_empty()).then(|| forced_start.to_string()),
                start: forced_start.is_empty().then(String::new),
                id_base,
            }),
            stopped: false,
        }
    }

    /// Takes newly generated text; gives the content that can stream now, or the content
    /// before a stop string.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        let mut text = std::borrow::Cow::Borrowed(text);
        if let Some(tools) = &mut self.tools {
            if let Some(start) = &mut tools.start {
                start.push_str(&text);
                match tools.syntax.is_bare_call(start) {
                    None => return StopOutcome::Continue(String::new()),
                    Some(true) => {
                        tools.text = tools.start.take();
                        return StopOutcome::Continue(String::new());
                    }
                    Some(false) => text = tools.start.take().unwrap_or_default().into(),
                }
            }
        }
        let content = match &mut self.tools {
            Some(ToolCalls {
                text: Some(calls), ..
            }) => {
                calls.push_str(&text);
                return StopOutcome::Continue(String::new());
            }
            Some(tools) => match tools.opening.push(&text) {
                StopOutcome::Continue(content) => content,
                StopOutcome::Stopped(before) => {
                    let opening = tools.syntax.opening();
                    tools.text = Some(format!("{opening}{}", tools.opening.flush()));
                    before
                }
            },
            None => text.to_string(),
        };
        let outcome = self.stops.push(&content);
        if let StopOutcome::Stopped(_) = outcome {
            self.stopped = true;
        }
        outcome
    }

    /// Ends the answer for `reason`: the content still held back and the calls, if the
    /// text after the opening holds well-formed calls (otherwise it is content too).
    pub fn finish(&mut self, reason: FinishReason) -> Ending {
        let mut content = String::new();
        let mut tool_calls = None;
        if self.stopped {
            return Ending {
                content,
                tool_calls,
                reason,
            };
        }
        if let Some(tools) = &mut self.tools {
            content += &tools.start.take().unwrap_or_default();
            content += &tools.opening.flush();
            if let Some(text) = tools.text.take() {
                tool_calls = tools.syntax.parse(&text, &tools.id_base);
                if tool_calls.is_none() {
                    content += &text;
                }
            }
        }
        content = self.stops.flush() + &content;
        let reason = match (&tool_calls, reason) {
            (Some(_), FinishReason::Stop) => FinishReason::ToolCalls,
            (_, reason) => reason,
        };
        Ending {
            content,
            tool_calls,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(answer: &mut Answer, pieces: &[&str]) -> (String, Ending) {
        let mut streamed = String::new();
        for piece in pieces {
            match answer.push(piece) {
                StopOutcome::Continue(text) => streamed += &text,
                StopOutcome::Stopped(text) => {
                    streamed += &text;
                    break;
                }
            }
        }
        (streamed, answer.finish(FinishReason::Stop))
    }

    fn with_tools(forced: &str) -> Answer {
        Answer::with_tools(
            vec!["STOP".into()],
            ToolCallSyntax::Hermes,
            forced,
            "t".into(),
        )
    }

    #[test]
    fn calls_are_held_back_from_the_content_and_parsed_at_the_end() {
        let (streamed, ending) = run(
            &mut with_tools(""),
            &[
                "Let me check.\n<tool",
                "_call>\n{\"name\": \"f\", ",
                "\"arguments\": {\"a\": 1}}\n</tool_call>",
            ],
        );
        assert_eq!(streamed, "Let me check.\n");
        assert_eq!(ending.content, "");
        assert_eq!(ending.reason, FinishReason::ToolCalls);
        let calls = ending.tool_calls.unwrap();
        assert_eq!(
            (
                calls[0].function.name.as_str(),
                calls[0].function.arguments.as_str()
            ),
            ("f", r#"{"a":1}"#)
        );
    }

    #[test]
    fn an_answer_that_begins_with_a_bare_call_is_a_call() {
        let (streamed, ending) = run(
            &mut with_tools(""),
            &["{\"", "name\": \"f\", \"arguments\": {}}"],
        );
        assert_eq!(streamed, "");
        assert_eq!(ending.reason, FinishReason::ToolCalls);
        assert_eq!(ending.tool_calls.unwrap()[0].function.name, "f");
        // Text first: JSON later in the answer is content.
        let (streamed, ending) = run(
            &mut with_tools(""),
            &["{\"", "city\": 1} and {\"name\": 2}"],
        );
        assert_eq!(streamed, "{\"city\": 1} and {\"name\": 2}");
        assert!(ending.tool_calls.is_none());
        // An answer too short to tell is content.
        let (streamed, ending) = run(&mut with_tools(""), &["{"]);
        assert_eq!((streamed.as_str(), ending.content.as_str()), ("", "{"));
    }

    #[test]
    fn a_malformed_call_ends_as_content() {
        let (streamed, ending) = run(&mut with_tools(""), &["<tool_call>{oops"]);
        assert_eq!(streamed, "");
        assert_eq!(ending.content, "<tool_call>{oops");
        assert_eq!(ending.reason, FinishReason::Stop);
        assert!(ending.tool_calls.is_none());
    }

    #[test]
    fn a_forced_start_makes_the_answer_a_call() {
        let forced = ToolCallSyntax::Hermes.forced_start();
        let (streamed, ending) = run(
            &mut with_tools(forced),
            &["{\"name\": \"f\", \"arguments\": {\"a\": 2}}"],
        );
        assert_eq!(streamed, "");
        assert_eq!(
            ending.tool_calls.unwrap()[0].function.arguments,
            r#"{"a":2}"#
        );
    }

    #[test]
    fn a_stop_string_before_the_opening_ends_the_answer_without_calls() {
        let (streamed, ending) = run(
            &mut with_tools(""),
            &["done STOP <tool_call>{\"name\": \"f\"}"],
        );
        assert_eq!(streamed, "done ");
        assert_eq!(ending.content, "");
        assert!(ending.tool_calls.is_none());
        // Without tools, text that looks like a call is content.
        let (streamed, ending) = run(&mut Answer::new(vec![]), &["<tool_call>{\"name\": \"f\"}"]);
        assert_eq!(streamed, "<tool_call>{\"name\": \"f\"}");
        assert!(ending.tool_calls.is_none());
    }
}

//! Chat messages and chat templates. A model's template (Jinja, from the GGUF key
//! `tokenizer.chat_template` or `tokenizer_config.json`) turns messages into the prompt
//! text it was trained on. Templates run in minijinja, set up like Hugging Face's
//! renderer: blocks trimmed, loop controls, Python string and dict methods, and the
//! globals HF provides (`raise_exception`, `strftime_now`, a Python-style `tojson`), and
//! limited (`limits`) so that a template from a model file cannot hang or exhaust memory.

mod fit;
mod limits;
mod namespace;
mod pystr;
mod strftime;
mod tojson;
mod tools;

use minijinja::value::{Value, ValueKind};
use minijinja::{context, Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::formats::gguf::CHAT_TEMPLATE_KEY;
use crate::formats::Metadata;
use crate::tokenizer::Tokenizer;

pub use fit::fit_to_context;
pub use tools::{call_schema, FunctionCall, ToolCall, ToolCallSyntax};

/// ChatML, for models that ship no template.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}\
{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const TEMPLATE_NAME: &str = "chat_template";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// The calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Which call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// Bytes of text the message brings to a prompt.
    fn text_len(&self) -> usize {
        let calls = self
            .tool_calls
            .iter()
            .map(|c| c.id.len() + c.function.name.len() + c.function.arguments.len());
        self.role.len() + self.content.len() + calls.sum::<usize>()
    }
}

/// A parsed chat template, ready to render.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Parses `source`; `bos_token`/`eos_token` are the texts the template may print.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        // Hugging Face renders with trim_blocks and lstrip_blocks; templates are written
        // for that whitespace handling.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        limits::limit(
            &mut env,
            minijinja_contrib::pycompat::unknown_method_callback,
        );
        env.add_filter("tojson", tojson::tojson);
        env.add_test("iterable", is_iterable);
        env.set_formatter(pystr::format);
        env.add_filter("string", pystr::string);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", |format: String| {
            strftime::strftime_now(&format)
        });
        env.add_filter(namespace::FILTER, namespace::namespace_value);
        // Parsed as written first, so that syntax errors speak of the template's own text.
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| Error::Template(format!("cannot parse the template: {e}")))?;
        let guarded = namespace::guard_assignments(source)?;
        if guarded != source {
            env.add_template_owned(TEMPLATE_NAME, guarded)
                .map_err(|e| Error::Template(format!("cannot parse the template: {e}")))?;
        }
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// The ChatML fallback.
    pub fn chatml() -> Result<Self> {
        Self::new(CHATML_TEMPLATE, "", "")
    }

    /// The template a GGUF file's metadata holds (ChatML when it has none), with the
    /// tokenizer's BOS/EOS texts.
    pub fn from_metadata(metadata: &Metadata, tokenizer: &Tokenizer) -> Result<Self> {
        Self::with_tokenizer(metadata.opt_str(CHAT_TEMPLATE_KEY)?, tokenizer)
    }

    /// A model's own template `source` (ChatML when it has none, as `ModelHeader::
    /// chat_template` gives it), with the tokenizer's BOS/EOS texts.
    pub fn with_tokenizer(source: Option<&str>, tokenizer: &Tokenizer) -> Result<Self> {
        let source = source.unwrap_or(CHATML_TEMPLATE);
        let text = |id: Option<u32>| {
            id.and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        Self::new(source, &text(tokenizer.bos_id()), &text(tokenizer.eos_id()))
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt for `messages`; with `add_generation_prompt`, ending where the
    /// assistant's reply begins.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// [`Self::render`] with the tools the model may call (OpenAI's tool objects; none:
    /// the template's answer without tools).
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| Error::Template(e.to_string()))?;
        let template_len = self.source.len() + self.bos_token.len() + self.eos_token.len();
        let tools_len = serde_json::to_string(tools).map_or(0, |t| t.len());
        let limit = limits::max_output(template_len, messages, tools_len);
        let mut out = limits::BoundedOutput::new(limit);
        let tools = (!tools.is_empty()).then(|| Value::from_serialize(tools));
        template
            .render_captured_to(
                context! {
                    messages => Value::from_serialize(tools::template_messages(messages)),
                    tools => tools,
                    add_generation_prompt => add_generation_prompt,
                    bos_token => self.bos_token.as_str(),
                    eos_token => self.eos_token.as_str(),
                },
                &mut out,
            )
            .map_err(|e| out.render_error(&e))?;
        // minijinja writes whole strings, so the bytes are UTF-8.
        String::from_utf8(out.bytes)
            .map_err(|e| Error::Template(format!("the rendered prompt is not UTF-8: {e}")))
    }
}

/// `x is iterable` as in Python: `none` (`tools` when a request has none), numbers and
/// booleans are not; minijinja's own test says yes to `none`, which sends templates that
/// check `tools is iterable and tools | length > 0` (Qwen3-Coder's) into `length(none)`.
/// Undefined stays iterable, as jinja2's `Undefined` is.
fn is_iterable(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::Undefined
            | ValueKind::String
            | ValueKind::Bytes
            | ValueKind::Seq
            | ValueKind::Map
            | ValueKind::Iterable
    )
}

/// `raise_exception(message)`: templates call it to reject conversations they cannot
/// express (e.g. roles out of order).
fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("the template raised an exception: {message}"),
    ))
}

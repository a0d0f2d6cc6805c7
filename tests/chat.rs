//! Chat templates: the real model's template against llama.cpp's rendered prompts
//! (tests/fixtures/smollm2-135m-q4_1.json), the Jinja features Hugging Face templates
//! use, typed errors, and context trimming.

use std::path::PathBuf;
use std::sync::OnceLock;

use hearth::chat::{fit_to_context, ChatMessage, ChatTemplate, CHATML_TEMPLATE};
use hearth::formats::gguf::read_gguf_header;
use hearth::formats::{MetaValue, Metadata};
use hearth::tokenizer::Tokenizer;
use hearth::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    chat: Vec<ChatCase>,
}

#[derive(Deserialize)]
struct ChatCase {
    messages: Vec<ChatMessage>,
    prompt: String,
    prompt_ids: Vec<u32>,
}

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn fixture() -> Fixture {
    let path = manifest_path("tests/fixtures/smollm2-135m-q4_1.json");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("fixture JSON parses")
}

fn model() -> &'static (Metadata, Tokenizer) {
    static MODEL: OnceLock<(Metadata, Tokenizer)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = manifest_path("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            path.exists(),
            "the test model {} is missing: run scripts/fetch-models.sh",
            path.display()
        );
        let metadata = read_gguf_header(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .metadata;
        let tokenizer = Tokenizer::from_gguf(&metadata).expect("GGUF tokenizer builds");
        (metadata, tokenizer)
    })
}

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage::new(role, content)
}

fn render(source: &str, messages: &[ChatMessage]) -> Result<String, Error> {
    ChatTemplate::new(source, "<s>", "</s>")?.render(messages, true)
}

#[test]
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ChatTemplate>();
}

#[test]
fn model_template_renders_fixture_prompts_exactly() {
    let (metadata, tokenizer) = model();
    let template = ChatTemplate::from_metadata(metadata, tokenizer).unwrap();
    assert_ne!(
        template.source(),
        CHATML_TEMPLATE,
        "the model has its own template"
    );
    for case in fixture().chat {
        let prompt = template.render(&case.messages, true).unwrap();
        assert_eq!(prompt, case.prompt);
        assert_eq!(tokenizer.encode(&prompt, true).unwrap(), case.prompt_ids);
    }
}

#[test]
fn generation_prompt_is_optional() {
    let (metadata, tokenizer) = model();
    let template = ChatTemplate::from_metadata(metadata, tokenizer).unwrap();
    let messages = [msg("system", "S"), msg("user", "hi")];
    assert_eq!(
        template.render(&messages, false).unwrap(),
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
    );
}

#[test]
fn chatml_is_the_fallback() {
    let (metadata, tokenizer) = model();
    let mut without = metadata.clone();
    without.entries.remove("tokenizer.chat_template");
    let template = ChatTemplate::from_metadata(&without, tokenizer).unwrap();
    assert_eq!(template.source(), CHATML_TEMPLATE);
    // ChatML is what SmolLM2's template produces once a system message is given.
    let messages = &fixture().chat[0].messages;
    assert_eq!(messages[0].role, "system");
    assert_eq!(
        template.render(messages, true).unwrap(),
        fixture().chat[0].prompt
    );

    let mut wrong = metadata.clone();
    wrong.insert("tokenizer.chat_template", MetaValue::U32(7));
    assert!(matches!(
        ChatTemplate::from_metadata(&wrong, tokenizer),
        Err(Error::WrongType { key, .. }) if key == "tokenizer.chat_template"
    ));
}

#[test]
fn bos_and_eos_texts_come_from_the_tokenizer() {
    let (metadata, tokenizer) = model();
    let mut meta = metadata.clone();
    meta.insert(
        "tokenizer.chat_template",
        MetaValue::String("{{ bos_token }}|{{ eos_token }}".into()),
    );
    let template = ChatTemplate::from_metadata(&meta, tokenizer).unwrap();
    assert_eq!(
        template.render(&[], false).unwrap(),
        "<|im_start|>|<|im_end|>"
    );
}

#[test]
fn hugging_face_template_features() {
    let messages = [
        msg("system", "  Be brief.  "),
        msg("user", "a,b,c"),
        msg("assistant", "ok"),
    ];
    // Python string methods and booleans, trim_blocks/lstrip_blocks, loop controls,
    // namespace.
    let source = "{% set ns = namespace(n=0) %}
{% for m in messages %}
    {% if m.role == 'assistant' %}{% break %}{% endif %}
    {% set ns.n = ns.n + 1 %}
    [{{ m['content'].strip() }}|{{ m.content.split(',') | length }}|{{ m.role.startswith('sys') }}|{{ m.role.upper() }}]
{% endfor %}
n={{ ns.n }}{{ eos_token if add_generation_prompt }}";
    assert_eq!(
        render(source, &messages).unwrap(),
        "    [Be brief.|1|True|SYSTEM]\n    [a,b,c|3|False|USER]\nn=2</s>"
    );
    // continue
    let source = "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{{ m.role }};{% endfor %}";
    assert_eq!(render(source, &messages).unwrap(), "user;assistant;");
    // tojson as Python's json.dumps(ensure_ascii=False)
    let source = "{{ messages[1] | tojson }}|{{ {'k': ['<é>', 1.5, none, true]} | tojson }}";
    assert_eq!(
        render(source, &messages).unwrap(),
        r#"{"role": "user", "content": "a,b,c"}|{"k": ["<é>", 1.5, null, true]}"#
    );
    // strftime_now gives today's date in the requested form.
    let date = render("{{ strftime_now('%d %b %Y') }}", &[]).unwrap();
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 3, "{date}");
    assert!(
        parts[0].len() == 2 && parts[0].chars().all(|c| c.is_ascii_digit()),
        "{date}"
    );
    assert!(parts[2].parse::<u32>().unwrap() >= 2024, "{date}");
}

#[test]
fn a_template_that_raises_is_a_typed_error() {
    // The usual guard of Mistral/Llama 2 templates.
    let source = "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\
{% endif %}[{{ m.content }}]{% endfor %}";
    assert_eq!(render(source, &[msg("user", "a")]).unwrap(), "[a]");
    let err = render(source, &[msg("user", "a"), msg("user", "b")]).unwrap_err();
    match err {
        Error::Template(message) => {
            assert!(message.contains("roles must alternate"), "{message}")
        }
        other => panic!("expected a template error, got {other:?}"),
    }
}

#[test]
fn syntax_errors_are_typed_and_located() {
    for source in [
        "{% for m in messages %}{{ m.content }}",
        "{{ messages[0 }}",
        "{% if %}{% endif %}",
    ] {
        match ChatTemplate::new(source, "", "") {
            Err(Error::Template(message)) => {
                assert!(message.contains("syntax error"), "{message}")
            }
            other => panic!("expected a template error for {source:?}, got {other:?}"),
        }
    }
}

#[test]
fn trimming_keeps_the_prompt_inside_the_context() {
    let (metadata, tokenizer) = model();
    let template = ChatTemplate::from_metadata(metadata, tokenizer).unwrap();
    let count = |messages: &[ChatMessage]| -> Result<usize, Error> {
        Ok(tokenizer
            .encode(&template.render(messages, true)?, true)?
            .len())
    };
    let mut conversation = vec![msg("system", "You are a helpful assistant.")];
    for turn in 0..6 {
        conversation.push(msg(
            "user",
            &format!("Question number {turn}: what is {turn} + {turn}?"),
        ));
        conversation.push(msg("assistant", &format!("The answer is {}.", 2 * turn)));
    }
    conversation.push(msg("user", "And the last question?"));
    let full = count(&conversation).unwrap();

    assert_eq!(
        fit_to_context(&conversation, full, count).unwrap(),
        conversation
    );
    let limit = full - 20;
    let fitted = fit_to_context(&conversation, limit, count).unwrap();
    assert!(count(&fitted).unwrap() <= limit);
    assert!(fitted.len() < conversation.len());
    assert_eq!(fitted[0], conversation[0], "the system message stays");
    assert_eq!(fitted.last(), conversation.last(), "the question stays");
    assert_eq!(fitted[1].role, "user", "whole turns are dropped");
    assert!(
        conversation.ends_with(&fitted[1..]),
        "the newest turns are kept"
    );

    let minimal = count(&[conversation[0].clone(), conversation[13].clone()]).unwrap();
    match fit_to_context(&conversation, minimal - 1, count) {
        Err(Error::ContextOverflow { needed, limit }) => {
            assert_eq!((needed, limit), (minimal, minimal - 1))
        }
        other => panic!("expected ContextOverflow, got {other:?}"),
    }
}

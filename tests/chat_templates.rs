//! Every chat template of llama.cpp's models/templates/ (fetched by `scripts/fetch-models.sh
//! llama-cpp-models` into models/llama.cpp/templates/) renders byte for byte as Python's
//! jinja2 renders it the way Hugging Face transformers does
//! (tests/fixtures/chat-templates.json, made by scripts/chat-template-references.py): a system
//! prompt, several turns, with and without the generation prompt; where jinja2 fails (a
//! template that raises, or one that needs tools), hearth fails too.

use std::collections::BTreeMap;
use std::path::Path;

use hearth::chat::{ChatMessage, ChatTemplate};
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Fixture {
    bos_token: String,
    eos_token: String,
    cases: Vec<Case>,
    templates: BTreeMap<String, Template>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    tools: Vec<serde_json::Value>,
    add_generation_prompt: bool,
}

#[derive(Deserialize)]
struct Template {
    sha256: String,
    parse_error: Option<String>,
    renders: Vec<Render>,
}

#[derive(Deserialize)]
struct Render {
    output: Option<String>,
    error: Option<String>,
}

/// Families whose templates must be among those checked (the rest of the folder is checked
/// too; these are named so that the folder cannot lose them unseen).
const FAMILIES: &[&str] = &[
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "Qwen3.5-4B.jinja",
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "meta-llama-Llama-3.3-70B-Instruct.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "google-gemma-2-2b-it.jinja",
    "google-gemma-4-31B-it.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
];

/// Templates written only for requests with tools (they iterate `tools` unguarded).
const TOOLS_REQUIRED: &[&str] = &[
    "CohereForAI-c4ai-command-r-plus-tool_use.jinja",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
];

/// Renders where hearth and jinja2 knowingly part, with the reason.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "llama-cpp-deepseek-r1.jinja",
        "user with a tool, generation prompt",
        "`tools | map(...) | tojson`: jinja2 cannot serialize the lazy map, minijinja renders it",
    ),
    (
        "meetkai-functionary-medium-v3.1.jinja",
        "user with a tool, generation prompt",
        "`'...'|safe + text`: Python's Markup escapes the text it is added to (&#34;), \
         minijinja concatenates plain strings",
    ),
];

/// Replaces the fixture's `<<strftime_now:FMT>>` markers with hearth's `strftime_now(FMT)`.
fn with_dates(expected: &str) -> String {
    let mut out = String::new();
    let mut rest = expected;
    while let Some(start) = rest.find("<<strftime_now:") {
        let after = &rest[start + "<<strftime_now:".len()..];
        let end = after.find(">>").expect("a closed marker");
        let format = &after[..end];
        let probe = format!(
            "{{{{ strftime_now({}) }}}}",
            serde_json::to_string(format).unwrap()
        );
        let date = ChatTemplate::new(&probe, "", "")
            .and_then(|t| t.render(&[], false))
            .expect("strftime_now renders");
        out.push_str(&rest[..start]);
        out.push_str(&date);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_llama_cpp_template_renders_as_jinja2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture: Fixture = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/chat-templates.json")).unwrap(),
    )
    .unwrap();
    let dir = root.join("models/llama.cpp/templates");
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/fetch-models.sh llama-cpp-models",
        dir.display()
    );
    for family in FAMILIES {
        assert!(
            fixture.templates.contains_key(*family),
            "{family} is not in the fixture"
        );
    }
    let mut failures = Vec::new();
    let mut renders = 0;
    for (name, expected) in &fixture.templates {
        let source = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(
            Sha256::digest(source.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            expected.sha256,
            "{name} is not the template the fixture was made from"
        );
        let template = ChatTemplate::new(&source, &fixture.bos_token, &fixture.eos_token);
        let template = match (template, &expected.parse_error) {
            (Ok(t), None) => t,
            (Err(_), Some(_)) => continue,
            (Ok(_), Some(e)) => {
                failures.push(format!("{name}: parses, jinja2 does not ({e})"));
                continue;
            }
            (Err(e), None) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        for (case, render) in fixture.cases.iter().zip(&expected.renders) {
            if DIFFERENCES
                .iter()
                .any(|(n, c, _)| n == name && *c == case.name)
            {
                continue;
            }
            let got =
                template.render_with_tools(&case.messages, &case.tools, case.add_generation_prompt);
            renders += 1;
            match (got, &render.output, &render.error) {
                (Ok(got), Some(want), _) => {
                    let want = with_dates(want);
                    if got != want {
                        failures.push(format!(
                            "{name}, {}:\n  jinja2: {want:?}\n  hearth: {got:?}",
                            case.name
                        ));
                    }
                }
                (Err(_), None, Some(_)) => {}
                // Without tools these templates loop over `tools` (None): jinja2 raises,
                // minijinja iterates none as nothing and hearth renders the tool preamble
                // with an empty list.
                (Ok(_), None, Some(e))
                    if case.tools.is_empty()
                        && TOOLS_REQUIRED.contains(&name.as_str())
                        && e.contains("'NoneType' object is not iterable") => {}
                (Ok(got), None, Some(e)) => failures.push(format!(
                    "{name}, {}: jinja2 fails ({e}), hearth renders {got:?}",
                    case.name
                )),
                (Err(e), _, _) => failures.push(format!(
                    "{name}, {}: jinja2 renders, hearth fails: {e}",
                    case.name
                )),
                (Ok(_), None, None) => failures.push(format!("{name}: an empty fixture entry")),
            }
        }
    }
    assert!(renders >= 250, "only {renders} renders compared");
    assert!(
        failures.is_empty(),
        "{} of {renders} renders differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

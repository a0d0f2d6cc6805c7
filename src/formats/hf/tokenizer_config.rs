//! The parts of a Hugging Face `tokenizer_config.json` hearth uses: which tokens are BOS
//! and EOS, whether BOS is prepended, and the chat template. The tokenizer and the chat
//! template read them; the model loader carries them from the folder to both.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HfTokenizerConfig {
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub add_bos_token: Option<bool>,
    /// The default template (configs may list several named ones).
    pub chat_template: Option<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    bos_token: Value,
    #[serde(default)]
    eos_token: Value,
    #[serde(default)]
    add_bos_token: Option<bool>,
    #[serde(default)]
    chat_template: Value,
}

impl HfTokenizerConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| Error::Tokenizer(format!("tokenizer_config.json: {e}")))?;
        Ok(HfTokenizerConfig {
            bos_token: token_content(&raw.bos_token, "bos_token")?,
            eos_token: token_content(&raw.eos_token, "eos_token")?,
            add_bos_token: raw.add_bos_token,
            chat_template: default_template(&raw.chat_template)?,
        })
    }
}

/// A special token is written either as its text or as an AddedToken object.
fn token_content(value: &Value, key: &str) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(map) => match map.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(Error::Tokenizer(format!(
                "tokenizer_config.json: '{key}' has no string 'content'"
            ))),
        },
        _ => Err(Error::Tokenizer(format!(
            "tokenizer_config.json: '{key}' is neither a string nor a token object"
        ))),
    }
}

/// `chat_template` is a string, or a list of `{name, template}` of which "default" is the
/// chat template.
fn default_template(value: &Value) -> Result<Option<String>> {
    let bad = || {
        Error::Tokenizer(
            "tokenizer_config.json: 'chat_template' is neither a string nor a list of {name, template}"
                .into(),
        )
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Array(entries) => {
            for entry in entries {
                let name = entry.get("name").and_then(Value::as_str).ok_or_else(bad)?;
                let template = entry
                    .get("template")
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?;
                if name == "default" {
                    return Ok(Some(template.to_string()));
                }
            }
            Ok(None)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_objects_and_named_templates() {
        let config = HfTokenizerConfig::parse(
            br#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                 "add_bos_token": true,
                 "chat_template": [{"name": "tool_use", "template": "T"},
                                   {"name": "default", "template": "D"}]}"#,
        )
        .unwrap();
        assert_eq!(config.bos_token.as_deref(), Some("<s>"));
        assert_eq!(config.eos_token.as_deref(), Some("</s>"));
        assert_eq!(config.add_bos_token, Some(true));
        assert_eq!(config.chat_template.as_deref(), Some("D"));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(matches!(
            HfTokenizerConfig::parse(br#"{"eos_token": 5}"#),
            Err(Error::Tokenizer(_))
        ));
        assert!(matches!(
            HfTokenizerConfig::parse(b"not json"),
            Err(Error::Tokenizer(_))
        ));
    }
}

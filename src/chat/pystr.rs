//! Values printed by `{{ … }}` as Python prints them, since chat templates are written for
//! Hugging Face's jinja2: `True`/`False`/`None`, and lists and dicts as Python's `str()`
//! shows them (`{'name': 'get_weather', 'strict': True}`) — some templates print a tool's
//! dict as it is. Strings, numbers and undefined values print as minijinja prints them.

use minijinja::value::{Value, ValueKind};
use minijinja::{escape_formatter, Error, ErrorKind, Output, State};

/// Nesting deeper than this is refused rather than recursed into (request values are
/// parsed with serde_json's limit of 128 levels).
const MAX_DEPTH: usize = 256;

/// The environment's formatter.
pub fn format(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    match python_str(value)? {
        Some(text) => out.write_str(&text).map_err(Error::from),
        None => escape_formatter(out, state, value),
    }
}

/// The `string` filter: Python's `str(value)`.
pub fn string(value: &Value) -> Result<Value, Error> {
    Ok(match python_str(value)? {
        Some(text) => Value::from(text),
        None if value.kind() == ValueKind::String => value.clone(),
        None => Value::from(value.to_string()),
    })
}

/// Python's `str(value)` where it differs from minijinja's display (`None` elsewhere).
fn python_str(value: &Value) -> Result<Option<String>, Error> {
    match value.kind() {
        ValueKind::Bool
        | ValueKind::None
        | ValueKind::Seq
        | ValueKind::Map
        | ValueKind::Iterable => {
            let mut text = String::new();
            repr(value, &mut text, 0)?;
            Ok(Some(text))
        }
        _ => Ok(None),
    }
}

/// Python's `repr` of `value` (which `str` of a list or dict uses for its items).
fn repr(value: &Value, out: &mut String, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("a printed value nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    match value.kind() {
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::None | ValueKind::Undefined => out.push_str("None"),
        ValueKind::String => string_repr(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(&item, out, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(&key, out, depth + 1)?;
                out.push_str(": ");
                repr(&value.get_item(&key)?, out, depth + 1)?;
            }
            out.push('}');
        }
        _ => out.push_str(&value.to_string()),
    }
    Ok(())
}

/// Python's `repr` of a string: single quotes unless the text holds a single quote and no
/// double quote; backslashes, the quote and control characters escaped.
fn string_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use minijinja::{context, Environment};

    fn render(source: &str, ctx: minijinja::Value) -> String {
        let mut env = Environment::new();
        env.set_formatter(super::format);
        env.add_filter("string", super::string);
        env.render_str(source, ctx).unwrap()
    }

    #[test]
    fn values_print_as_python_prints_them() {
        let tool = serde_json::json!({"name": "f", "strict": true, "n": 2, "none": null, "tags": ["a'b", "c\"d", "e\n"]});
        assert_eq!(
            render("{{ tool }}", context! { tool => tool }),
            r#"{'name': 'f', 'strict': True, 'n': 2, 'none': None, 'tags': ["a'b", 'c"d', 'e\n']}"#
        );
        assert_eq!(
            render(
                "{{ true }} {{ false }} {{ none }} {{ [1, 'x'] }}",
                context! {}
            ),
            "True False None [1, 'x']"
        );
        assert_eq!(
            render(
                "{{ (tool | string) ~ '|' ~ (3 | string) ~ '|' ~ ('a' | string) }}",
                context! { tool => serde_json::json!({"a": false}) }
            ),
            "{'a': False}|3|a"
        );
        // Strings, numbers and undefined values as before.
        assert_eq!(
            render(
                "{{ \"it's\" }}|{{ 3 }}|{{ 1.5 }}|{{ missing }}|",
                context! {}
            ),
            "it's|3|1.5||"
        );
    }
}

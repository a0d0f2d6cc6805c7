//! `tojson` as Hugging Face chat templates expect it: Python's
//! `json.dumps(value, ensure_ascii=False, indent=indent)`, so `", "` and `": "` between
//! items, and `<`, `>`, `&`, `'` left as they are (minijinja's own `tojson` escapes them
//! for HTML, which would change the prompt).

use std::io;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error as JinjaError, ErrorKind};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

use super::limits::BoundedOutput;

/// What `tojson` serializes at most. A value can hold another many times over (`[a, a]`),
/// and, where namespaces are not limited as a `ChatTemplate` limits them, nest as deep as a
/// loop runs (`{% set ns.a = [ns.a] %}`): the serializer recurses once per level and writes
/// every copy, so depth, items and bytes are checked here on their own. Real templates
/// serialize tool lists a few levels deep and a few KB long.
const MAX_DEPTH: usize = 128;
const MAX_ITEMS: usize = 1 << 20;
const MAX_BYTES: usize = 16 << 20;

pub(crate) fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    if let Some(indent) = indent {
        // The indent is repeated on every line: a huge one would allocate without bound.
        super::limits::check_size(indent as f64)?;
    }
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    // Python's (item separator, key separator); ", " and ": " by default.
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let (item_separator, key_separator) = match separators.as_deref() {
        None => (", ".to_string(), ": ".to_string()),
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair (item separator, key separator)",
            ))
        }
    };
    let mut items = MAX_ITEMS;
    check_shape(value, 0, &mut items)?;
    let indent_text = " ".repeat(indent.unwrap_or(0));
    let mut out = BoundedOutput::new(MAX_BYTES);
    let formatter = PythonFormatter {
        pretty: indent.map(|_| PrettyFormatter::with_indent(indent_text.as_bytes())),
        ensure_ascii: ensure_ascii.unwrap_or(false),
        item_separator: item_separator.as_bytes(),
        key_separator: key_separator.as_bytes(),
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    let serialized = if sort_keys == Some(true) {
        // Maps keep their insertion order, as Python's dicts do; sorted on request. The
        // shape was checked above, so the copy is bounded.
        let mut copy = serde_json::to_value(value).map_err(|e| {
            JinjaError::new(
                ErrorKind::InvalidOperation,
                format!("tojson: cannot serialize: {e}"),
            )
        })?;
        sort_object_keys(&mut copy);
        copy.serialize(&mut serializer)
    } else {
        value.serialize(&mut serializer)
    };
    if out.exceeded {
        return Err(too_large(format!("longer than {MAX_BYTES} bytes")));
    }
    serialized.map_err(|e| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("tojson: cannot serialize: {e}"),
        )
    })?;
    let text = String::from_utf8(out.bytes).map_err(|e| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("tojson: not UTF-8: {e}"),
        )
    })?;
    Ok(Value::from_safe_string(text))
}

fn sort_object_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_object_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_object_keys),
        _ => {}
    }
}

/// Walks `value` as the serializer will, failing past [`MAX_DEPTH`] levels or
/// [`MAX_ITEMS`] items (`items` counts down), before anything recurses without limit.
fn check_shape(value: &Value, depth: usize, items: &mut usize) -> Result<(), JinjaError> {
    if depth > MAX_DEPTH {
        return Err(too_large(format!("nested deeper than {MAX_DEPTH} levels")));
    }
    let is_map = match value.kind() {
        ValueKind::Map => true,
        ValueKind::Seq | ValueKind::Iterable => false,
        _ => return Ok(()),
    };
    for item in value.try_iter()? {
        *items = items
            .checked_sub(1)
            .ok_or_else(|| too_large(format!("more than {MAX_ITEMS} items")))?;
        // A map iterates its keys; the serializer writes their values too.
        let child = if is_map { value.get_item(&item)? } else { item };
        check_shape(&child, depth + 1, items)?;
    }
    Ok(())
}

fn too_large(what: String) -> JinjaError {
    JinjaError::new(
        ErrorKind::InvalidOperation,
        format!("tojson: the value is {what}"),
    )
}

/// Python's separators: `", "` and `": "` (or the ones given) when compact; with an
/// indent, serde_json's pretty layout, which is Python's (`","` at line ends), with the
/// key separator given.
struct PythonFormatter<'a> {
    pretty: Option<PrettyFormatter<'a>>,
    ensure_ascii: bool,
    item_separator: &'a [u8],
    key_separator: &'a [u8],
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            match &mut self.pretty {
                Some(pretty) => pretty.$name(writer $(, $arg)*),
                None => CompactFormatter.$name(writer $(, $arg)*),
            }
        }
    )*};
}

impl Formatter for PythonFormatter<'_> {
    delegate! {
        begin_array();
        end_array();
        end_array_value();
        begin_object();
        end_object();
        end_object_key();
        end_object_value();
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match &mut self.pretty {
            Some(pretty) => pretty.begin_array_value(writer, first),
            None if first => Ok(()),
            None => writer.write_all(self.item_separator),
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match &mut self.pretty {
            Some(pretty) => pretty.begin_object_key(writer, first),
            None if first => Ok(()),
            None => writer.write_all(self.item_separator),
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.key_separator)
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ensure_ascii {
            return writer.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use minijinja::{context, Environment};

    fn render(source: &str) -> String {
        let mut env = Environment::new();
        env.add_filter("tojson", super::tojson);
        // A dict literal: its keys keep their written order, as in Python.
        let source =
            format!("{{% set v = {{'b': [1, \"x<y>'&é\"], 'a': {{}}, 'c': []}} %}}{source}");
        env.render_str(&source, context! {}).unwrap()
    }

    fn render_error(source: &str) -> String {
        let mut env = Environment::new();
        env.add_filter("tojson", super::tojson);
        env.render_str(source, context! {}).unwrap_err().to_string()
    }

    #[test]
    fn refuses_values_too_deep_or_too_large() {
        // Nested one level per loop step; a longer loop would overflow the stack.
        let deep = "{% set ns = namespace(a=1) %}{% for i in range(200) %}\
                    {% set ns.a = [ns.a] %}{% endfor %}{{ ns.a | tojson }}";
        assert!(render_error(deep).contains("nested deeper than"));
        // One list held twice per step: 2^30 items to write.
        let wide = "{% set ns = namespace(a=[1]) %}{% for i in range(30) %}\
                    {% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a | tojson }}";
        assert!(render_error(wide).contains("more than"));
        assert!(render_error("{{ [1] | tojson(separators=[',']) }}").contains("separators"));
    }

    #[test]
    fn matches_python_json_dumps() {
        assert_eq!(
            render("{{ v | tojson }}"),
            r#"{"b": [1, "x<y>'&é"], "a": {}, "c": []}"#
        );
        assert_eq!(
            render("{{ v | tojson(indent=2) }}"),
            "{\n  \"b\": [\n    1,\n    \"x<y>'&é\"\n  ],\n  \"a\": {},\n  \"c\": []\n}"
        );
        assert_eq!(
            render("{{ v.b | tojson(ensure_ascii=true) }}"),
            r#"[1, "x<y>'&\u00e9"]"#
        );
        assert_eq!(
            render("{{ v | tojson(sort_keys=true) }}"),
            r#"{"a": {}, "b": [1, "x<y>'&é"], "c": []}"#
        );
        assert_eq!(
            render("{{ v | tojson(separators=(',', ':')) }}"),
            r#"{"b":[1,"x<y>'&é"],"a":{},"c":[]}"#
        );
        assert_eq!(
            render("{{ {'z': {'y': 1, 'x': 2}} | tojson(sort_keys=true, indent=1) }}"),
            "{\n \"z\": {\n  \"x\": 2,\n  \"y\": 1\n }\n}"
        );
    }
}

//! `tojson` as Hugging Face chat templates expect it: Python's
//! `json.dumps(value, ensure_ascii=False, indent=indent)`, so `", "` and `": "` between
//! items, and `<`, `>`, `&`, `'` left as they are (minijinja's own `tojson` escapes them
//! for HTML, which would change the prompt).

use std::io;

use minijinja::value::{Kwargs, Value};
use minijinja::{Error as JinjaError, ErrorKind};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

pub(crate) fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    // Accepted for compatibility: maps already keep their insertion order, as in Python.
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let indent_text = " ".repeat(indent.unwrap_or(0));
    let mut out = Vec::new();
    let formatter = PythonFormatter {
        pretty: indent.map(|_| PrettyFormatter::with_indent(indent_text.as_bytes())),
        ensure_ascii: ensure_ascii.unwrap_or(false),
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut serializer).map_err(|e| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("tojson: cannot serialize: {e}"),
        )
    })?;
    let text = String::from_utf8(out).map_err(|e| {
        JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("tojson: not UTF-8: {e}"),
        )
    })?;
    Ok(Value::from_safe_string(text))
}

/// Python's separators: `", "` and `": "` when compact; with an indent, serde_json's
/// pretty layout, which is Python's (`","` at line ends, `": "`).
struct PythonFormatter<'a> {
    pretty: Option<PrettyFormatter<'a>>,
    ensure_ascii: bool,
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
            None => writer.write_all(b", "),
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
            None => writer.write_all(b", "),
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
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
    }
}

//! What rendering a chat template may cost. Templates come from model files, so a broken or
//! hostile one must end in `Error::Template` instead of hanging the engine, overflowing its
//! stack or allocating without bound:
//! - fuel: minijinja counts the instructions of a render and stops it when they run out,
//!   which ends nested loops over large ranges and macros that call themselves twice a level;
//! - recursion: macro calls and recursive loops nested deeper than a chat template needs fail
//!   before the stack does;
//! - output: the prompt is written through a writer that refuses more than a size derived
//!   from the messages and the template;
//! - size arguments: the builtin filters that allocate from a number they are given
//!   (`indent(width)`, `batch(n)`, `slice(n)`, widths and precisions in `format`, our
//!   `tojson(indent=n)`) refuse numbers beyond any real template's.
//!
//! - namespaces: the one place a value outlives a loop step holds plain copies at most 64
//!   levels deep (see `namespace.rs`), so no value nests without limit or holds itself.
//!
//! What stays out of reach from here, inside minijinja 2 (no hook exists for it): values
//! have no size limit, so one string repetition `s * n` may reach 100 MB, `s ~ s` doubles a
//! string each step and `[x] * n | list` materializes n items (fuel counts steps, not
//! bytes). `tojson`, ours, checks depth and size (see `tojson.rs`).

use std::io;

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind, State};

use super::ChatMessage;
use crate::error::Error;

/// Instructions one render may execute. Qwen2.5's template spends under 50 per message, so
/// this covers conversations of tens of thousands of messages, and a runaway template stops
/// after about 0.1 s of native work.
pub(super) const FUEL: u64 = 2_000_000;

/// Nesting depth of a render, in minijinja's units (a block or loop is 1, a macro call
/// about 5: this allows macros recursing ~40 deep, as schema-rendering tool templates do).
/// On a 1 MiB stack (a wasm module's default) a unit takes under 4 KiB even in an
/// AddressSanitizer build, whose frames are the largest measured: 200 fit there with room to
/// spare, minijinja's default of 500 fits only builds with smaller frames.
pub(super) const RECURSION_LIMIT: usize = 200;

/// The largest width, count or indent a template may pass to a builtin that allocates from
/// it. Real templates use single or double digits.
pub(super) const MAX_SIZE_ARGUMENT: usize = 1024;

/// Prompt bytes always allowed, and allowed per byte of message text: a template prints a
/// message a few times at most, escaped (`tojson` writes a control byte as 6).
const OUTPUT_BASE: usize = 1 << 20;
const OUTPUT_PER_MESSAGE_BYTE: usize = 16;

/// Applies the limits to a template environment; `unknown_method_callback` answers
/// Python-style method calls (`.format(...)` is checked first).
pub(super) fn limit(
    env: &mut Environment<'static>,
    unknown_method_callback: fn(&State, &Value, &str, &[Value]) -> Result<Value, JinjaError>,
) {
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    for (name, builtin) in [
        ("indent", Value::from_function(minijinja::filters::indent)),
        ("batch", Value::from_function(minijinja::filters::batch)),
        ("slice", Value::from_function(minijinja::filters::slice)),
    ] {
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            // args[0] is the value filtered; the rest are the filter's arguments.
            args.iter().skip(1).try_for_each(check_size_argument)?;
            builtin.call(state, &args)
        });
    }
    let format = Value::from_function(minijinja::filters::format);
    env.add_filter("format", move |state: &State, args: Rest<Value>| {
        if let Some(format_string) = args.first().and_then(Value::as_str) {
            check_format_string(format_string, FormatStyle::Printf)?;
        }
        format.call(state, &args)
    });
    env.set_unknown_method_callback(move |state, value, method, args| {
        if let (Some(format_string), "format") = (value.as_str(), method) {
            check_format_string(format_string, FormatStyle::StrFormat)?;
        }
        unknown_method_callback(state, value, method, args)
    });
}

/// The most bytes rendering `messages` (and tools described in `tools_len` bytes of JSON)
/// may write with a template of `template_len` bytes: the template's own text (with
/// BOS/EOS) about once per message, and each message and the tools a few times.
pub(super) fn max_output(template_len: usize, messages: &[ChatMessage], tools_len: usize) -> usize {
    let message_bytes = messages
        .iter()
        .map(ChatMessage::text_len)
        .fold(tools_len, usize::saturating_add);
    OUTPUT_BASE
        .saturating_add(message_bytes.saturating_mul(OUTPUT_PER_MESSAGE_BYTE))
        .saturating_add(template_len.saturating_mul(messages.len().saturating_add(1)))
}

/// The rendered prompt, refusing to grow past `limit` bytes.
pub(super) struct BoundedOutput {
    pub(super) bytes: Vec<u8>,
    pub(super) limit: usize,
    pub(super) exceeded: bool,
}

impl BoundedOutput {
    pub(super) fn new(limit: usize) -> Self {
        BoundedOutput {
            bytes: Vec::new(),
            limit,
            exceeded: false,
        }
    }

    /// The error for a failed render: the output limit, fuel, or what minijinja says.
    pub(super) fn render_error(&self, e: &JinjaError) -> Error {
        if self.exceeded {
            return Error::Template(format!(
                "the rendered prompt is longer than {} bytes",
                self.limit
            ));
        }
        match e.kind() {
            ErrorKind::OutOfFuel => Error::Template(format!(
                "rendering took more than {FUEL} steps (does the template loop forever?)"
            )),
            _ => Error::Template(format!("rendering failed: {e}")),
        }
    }
}

impl io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("the rendered prompt is too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Refuses a number (or a keyword argument's number) above [`MAX_SIZE_ARGUMENT`].
fn check_size_argument(arg: &Value) -> Result<(), JinjaError> {
    if arg.is_kwargs() {
        let values = arg.try_iter()?.map(|key| arg.get_item(&key));
        return values
            .into_iter()
            .try_for_each(|v| check_size_argument(&v?));
    }
    match arg.kind() {
        ValueKind::Number => check_size(f64::try_from(arg.clone()).unwrap_or(f64::INFINITY)),
        _ => Ok(()),
    }
}

pub(super) fn check_size(n: f64) -> Result<(), JinjaError> {
    if n > MAX_SIZE_ARGUMENT as f64 {
        return Err(JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("a size of {n} is above the limit of {MAX_SIZE_ARGUMENT}"),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum FormatStyle {
    /// `%-10.3f`: the `format` filter.
    Printf,
    /// `{:>10.3}`: Python's `str.format` method.
    StrFormat,
}

/// Refuses a format string with a field width or precision above [`MAX_SIZE_ARGUMENT`]
/// (minijinja pads to the width and prints floats to the precision it is given).
fn check_format_string(format: &str, style: FormatStyle) -> Result<(), JinjaError> {
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (open, escaped) = match style {
            FormatStyle::Printf => (b'%', b'%'),
            FormatStyle::StrFormat => (b'{', b'{'),
        };
        if bytes[i] != open {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&escaped) {
            i += 2;
            continue;
        }
        let spec = match style {
            // After `%`: an optional `(key)`, then flags, width and precision.
            FormatStyle::Printf => {
                let mut start = i + 1;
                if bytes.get(start) == Some(&b'(') {
                    start = format[start..]
                        .find(')')
                        .map_or(bytes.len(), |e| start + e + 1);
                }
                let len = bytes[start..]
                    .iter()
                    .take_while(|b| b"#0- +.0123456789".contains(b))
                    .count();
                start..start + len
            }
            // Inside `{...}`: the spec after the first `:`.
            FormatStyle::StrFormat => {
                let end = format[i..].find('}').map_or(bytes.len(), |e| i + e);
                match format[i..end].find(':') {
                    Some(colon) => i + colon + 1..end,
                    None => end..end,
                }
            }
        };
        for digits in format[spec.clone()].split(|c: char| !c.is_ascii_digit()) {
            if !digits.is_empty() {
                check_size(digits.parse::<f64>().unwrap_or(f64::INFINITY))?;
            }
        }
        i = spec.end.max(i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ChatMessage, ChatTemplate};
    use crate::error::Error;

    fn render(source: &str) -> Result<String, Error> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(&[ChatMessage::new("user", "hi")], true)
    }

    fn assert_refused(source: &str, why: &str) {
        match render(source) {
            Err(Error::Template(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("{source}: expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn a_template_that_never_ends_runs_out_of_fuel() {
        assert_refused(
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "steps",
        );
        // Each level calls itself twice: 2^30 calls, each within the recursion limit.
        assert_refused(
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
            "steps",
        );
    }

    #[test]
    fn deep_recursion_fails_before_the_stack() {
        // On a stack as small as a wasm module's.
        let small_stack = std::thread::Builder::new().stack_size(1 << 20);
        let endless = small_stack.spawn(|| {
            assert_refused(
                "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
                "recursion",
            );
            // Recursion as deep as templates rendering nested JSON schemas use still works.
            render("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}")
        });
        assert_eq!(endless.unwrap().join().unwrap().unwrap(), "");
    }

    #[test]
    fn output_is_bounded() {
        assert_refused(
            "{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}",
            "longer than",
        );
    }

    #[test]
    fn sizes_that_would_allocate_without_bound_are_refused() {
        for source in [
            "{{ 'a\nb' | indent(100000000000) }}",
            "{{ 'a\nb' | indent(width=100000000000) }}",
            "{{ [1, 2] | batch(100000000000) | list }}",
            "{{ [1, 2] | slice(100000000000) | list }}",
            "{{ '%100000000000d' | format(1) }}",
            "{{ '%.100000000000f' | format(1.5) }}",
            "{{ '{:>100000000000}'.format(1) }}",
            "{{ messages | tojson(indent=100000000000) }}",
        ] {
            assert_refused(source, "limit");
        }
        // Sizes real templates use still work.
        assert_eq!(
            render("{{ 'a\nb' | indent(2) }}|{{ '%-4s|' | format('x') }}{{ '{:>3}'.format(7) }}")
                .unwrap(),
            "a\n  b|x   |  7"
        );
        assert_eq!(render("{{ '100%% {}' | format() }}").unwrap(), "100% {}");
    }
}

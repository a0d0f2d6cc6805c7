//! What a template may store in a namespace. A namespace is the one place where a value
//! outlives a loop iteration, so it is the one way a template can build a value nested one
//! level per step (`{% set ns.a = [ns.a] %}` in a loop) or one that holds itself
//! (`{% set ns.me = [ns] %}`). minijinja prints, compares and drops values recursively,
//! so either would overflow the stack; it has no hook on the assignment itself.
//!
//! So every namespace assignment in a template is rewritten, before it is compiled, to go
//! through the [`FILTER`] filter (`{% set ns.a = (value) | filter %}`), which stores a copy
//! of the value made of plain lists, mappings and scalars, at most [`MAX_DEPTH`] deep. Such
//! a copy holds no reference to anything else (no namespace, no macro and its closure, no
//! lazy sequence), so nothing can grow through it from one step to the next. Copies are
//! paid from a per-render budget of [`MAX_COPIED_ITEMS`], which real templates (flags,
//! counters, strings, the odd list of messages) never come near.

use std::sync::atomic::{AtomicUsize, Ordering};

use minijinja::machinery::{tokenize, Token, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error as JinjaError, ErrorKind, State};

use crate::error::{Error, Result};

/// The filter every namespace assignment goes through.
pub(super) const FILTER: &str = "__namespace_value";

/// How deep a value stored in a namespace may nest (a list in a mapping is 2). Tool
/// definitions, the deepest thing a chat template handles, nest about a dozen levels.
pub(super) const MAX_DEPTH: usize = 64;

/// Items one render may copy into namespaces, over all its assignments.
pub(super) const MAX_COPIED_ITEMS: usize = 1_000_000;

/// `source` with every `{% set a.b = x %}` turned into `{% set a.b = (x) | FILTER %}` and
/// every `{% set a.b %}...{% endset %}` (whose body may pass through filters) into
/// `{% set a.b | FILTER %}...`. Tokens come from minijinja's own lexer, so what it parses
/// as an assignment is what is found here. `source` must already parse.
pub(super) fn guard_assignments(source: &str) -> Result<String> {
    #[derive(Clone, Copy)]
    enum State {
        Outside,
        /// After `{%`: is the statement a `set`?
        BlockStart,
        /// In a `set`'s target; `dotted` once it assigns an attribute.
        Target {
            dotted: bool,
        },
        /// After `=` (or `|` of a block set), until `%}`.
        Value {
            dotted: bool,
            block: bool,
        },
    }
    let whitespace = WhitespaceConfig {
        trim_blocks: true,
        lstrip_blocks: true,
        ..WhitespaceConfig::default()
    };
    let mut insertions: Vec<(usize, String)> = Vec::new();
    let mut state = State::Outside;
    for token in tokenize(source, false, SyntaxConfig, whitespace) {
        let (token, span) =
            token.map_err(|e| Error::Template(format!("cannot parse the template: {e}")))?;
        let (start, end) = (span.start_offset as usize, span.end_offset as usize);
        state = match (state, token) {
            (_, Token::BlockStart) => State::BlockStart,
            (State::BlockStart, Token::Ident("set")) => State::Target { dotted: false },
            (State::Target { .. }, Token::Dot) => State::Target { dotted: true },
            (State::Target { dotted }, Token::Assign) => {
                if dotted {
                    insertions.push((end, "(".into()));
                }
                State::Value {
                    dotted,
                    block: false,
                }
            }
            (State::Target { dotted }, Token::Pipe) => State::Value {
                dotted,
                block: true,
            },
            (
                State::Target { dotted }
                | State::Value {
                    dotted,
                    block: true,
                },
                Token::BlockEnd,
            ) => {
                if dotted {
                    insertions.push((start, format!(" | {FILTER} ")));
                }
                State::Outside
            }
            (
                State::Value {
                    dotted,
                    block: false,
                },
                Token::BlockEnd,
            ) => {
                if dotted {
                    insertions.push((start, format!(") | {FILTER} ")));
                }
                State::Outside
            }
            (State::BlockStart, _) | (_, Token::BlockEnd) => State::Outside,
            (state, _) => state,
        };
    }
    let mut guarded = String::with_capacity(source.len() + insertions.len() * 24);
    let mut copied = 0;
    for (at, text) in insertions {
        let piece = source.get(copied..at).ok_or_else(|| {
            Error::Template("cannot parse the template: bad token offsets".into())
        })?;
        guarded.push_str(piece);
        guarded.push_str(&text);
        copied = at;
    }
    guarded.push_str(&source[copied..]);
    Ok(guarded)
}

/// The [`FILTER`] filter: a copy of `value` made of plain lists, mappings and scalars.
pub(super) fn namespace_value(state: &State, value: Value) -> Result<Value, JinjaError> {
    let budget = state.get_or_set_temp_object("namespace_copy_budget", CopyBudget::default);
    copy(&value, MAX_DEPTH, &budget)
}

#[derive(Debug, Default)]
struct CopyBudget {
    copied: AtomicUsize,
}

impl Object for CopyBudget {}

impl CopyBudget {
    fn spend(&self) -> Result<(), JinjaError> {
        if self.copied.fetch_add(1, Ordering::Relaxed) >= MAX_COPIED_ITEMS {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                format!("the template stores more than {MAX_COPIED_ITEMS} items in namespaces"),
            ));
        }
        Ok(())
    }
}

fn copy(value: &Value, depth_left: usize, budget: &CopyBudget) -> Result<Value, JinjaError> {
    budget.spend()?;
    let Some(object) = value.as_object() else {
        // Scalars, strings and bytes hold no other value.
        return Ok(value.clone());
    };
    let Some(depth_left) = depth_left.checked_sub(1) else {
        return Err(JinjaError::new(
            ErrorKind::InvalidOperation,
            format!("a value stored in a namespace nests deeper than {MAX_DEPTH} levels"),
        ));
    };
    match object.repr() {
        ObjectRepr::Map => {
            let keys = value.try_iter()?;
            let mut pairs = Vec::new();
            for key in keys {
                let item = value.get_item(&key)?;
                pairs.push((
                    copy(&key, depth_left, budget)?,
                    copy(&item, depth_left, budget)?,
                ));
            }
            Ok(Value::from_iter(pairs))
        }
        // A lazy sequence (`map`, `select`, ...) is materialized: it holds what it reads from.
        ObjectRepr::Seq | ObjectRepr::Iterable => {
            let items = value.try_iter()?;
            let mut copies = Vec::new();
            for item in items {
                copies.push(copy(&item, depth_left, budget)?);
            }
            Ok(Value::from(copies))
        }
        _ => Err(JinjaError::new(
            ErrorKind::InvalidOperation,
            format!(
                "a namespace holds text, numbers, lists and mappings, not {}",
                value.kind()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatMessage, ChatTemplate};
    use crate::error::Error;

    fn render(source: &str, messages: &[ChatMessage]) -> Result<String, Error> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(messages, true)
    }

    /// Runs `f` on a stack as small as a wasm module's, where the recursion these limits
    /// prevent would overflow.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let thread = std::thread::Builder::new().stack_size(1 << 20);
        thread.spawn(f).unwrap().join().unwrap()
    }

    #[test]
    fn a_value_nested_once_per_step_is_refused_before_it_grows() {
        let messages = vec![ChatMessage::new("user", "hi"); 5000];
        let result = on_small_stack(move || {
            render(
                "{% set ns = namespace(a=1) %}{% for m in messages %}\
                 {% set ns.a = [ns.a, m] %}{% endfor %}{{ ns.a }}",
                &messages,
            )
        });
        match result {
            Err(Error::Template(message)) => {
                assert!(message.contains("deeper than 64"), "{message}")
            }
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn a_namespace_stores_a_snapshot_of_itself_not_a_cycle() {
        let out = on_small_stack(|| {
            render(
                "{% set ns = namespace(a=1) %}{% for i in range(3) %}{% set ns.me = [ns] %}\
                 {% endfor %}{{ ns.me[0].me[0].a }}|{{ ns.me[0].me[0].me[0].me is defined }}",
                &[],
            )
        });
        assert_eq!(out.unwrap(), "1|False");
    }

    #[test]
    fn objects_are_stored_as_what_they_show_or_refused() {
        // A macro shows its name and arguments; the copy keeps those, not its closure.
        let out = render(
            "{% macro m(x) %}x{% endmacro %}{% set ns = namespace() %}{% set ns.m = m %}\
             {{ ns.m.name }}{{ ns.m.arguments }}",
            &[],
        );
        assert_eq!(out.unwrap(), "m['x']");
        match render("{% set ns = namespace() %}{% set ns.f = range %}", &[]) {
            Err(Error::Template(message)) => assert!(message.contains("not plain"), "{message}"),
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn copying_is_paid_from_a_per_render_budget() {
        let out = render(
            "{% set ns = namespace() %}{% set big = range(10000) | list %}\
             {% for i in range(1000) %}{% set ns.a = big %}{% endfor %}",
            &[],
        );
        match out {
            Err(Error::Template(message)) => {
                assert!(message.contains("1000000 items"), "{message}")
            }
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn namespaces_work_as_real_templates_use_them() {
        let messages = [
            ChatMessage::new("system", "be brief"),
            ChatMessage::new("user", "hi"),
            ChatMessage::new("assistant", "hello"),
        ];
        let source = "{%- set ns = namespace(system='', count=0, roles=[], first=true) -%}\
            {%- for m in messages -%}\
              {%- if m.role == 'system' %}{% set ns.system = m.content %}{% endif -%}\
              {%- set ns.count = ns.count + 1 -%}\
              {%- set ns.roles = ns.roles + [m.role] -%}\
              {%- set ns.first, unused = false, 0 -%}\
            {%- endfor -%}\
            {%- set ns.block | upper %}tail{% endset -%}\
            {%- set ns.selected = messages | selectattr('role', 'equalto', 'user') | map(attribute='content') -%}\
            {{ ns.system }}|{{ ns.count }}|{{ ns.roles | join(',') }}|{{ ns.first }}|{{ ns.block }}|{{ ns.selected | list }}";
        assert_eq!(
            render(source, &messages).unwrap(),
            "be brief|3|system,user,assistant|False|TAIL|['hi']"
        );
    }

    #[test]
    fn syntax_errors_speak_of_the_template_as_written() {
        match render("{% set ns.a = %}", &[]) {
            Err(Error::Template(message)) => {
                assert!(message.contains("cannot parse"), "{message}");
                assert!(!message.contains(super::FILTER), "{message}");
            }
            other => panic!("expected a template error, got {other:?}"),
        }
    }
}

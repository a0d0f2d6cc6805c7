//! Chat templates and conversations from the input: `template NUL role NUL content NUL
//! role NUL content ...`. The template is parsed and rendered with and without the
//! generation prompt, then the conversation is fitted to a context as the engine does.
//! Checks that no template or message panics, hangs (fuel, a recursion limit) or writes a
//! prompt past the output limit.

#![no_main]

use hearth::chat::{fit_to_context, ChatMessage, ChatTemplate};
use hearth_fuzz::budget::limit_heap;
use libfuzzer_sys::fuzz_target;

/// Heap a render may take. minijinja limits a single string repetition (`s * n`) to 100
/// MB, so a few live values of that size are allowed; the rendered prompt itself is
/// limited in `hearth::chat` to a few times its input.
const HEAP_PER_INPUT_BYTE: usize = 1024;
const HEAP_BASE: usize = 1 << 30;

fuzz_target!(|data: &[u8]| {
    let _limit = limit_heap(HEAP_BASE + HEAP_PER_INPUT_BYTE * data.len());
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default();
    let mut messages = Vec::new();
    while let (Some(role), Some(content)) = (parts.next(), parts.next()) {
        messages.push(ChatMessage::new(role, content));
    }
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else {
        return;
    };
    let mut full_len = 0;
    for add_generation_prompt in [false, true] {
        if let Ok(prompt) = template.render(&messages, add_generation_prompt) {
            full_len = prompt.len();
        }
    }
    // The engine drops old turns until the prompt fits; its length stands in for tokens.
    let _ = fit_to_context(&messages, full_len / 2, |kept| {
        template.render(kept, true).map(|prompt| prompt.len())
    });
});

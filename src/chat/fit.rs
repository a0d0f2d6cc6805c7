//! Trimming a conversation to the context window.

use super::ChatMessage;
use crate::error::{Error, Result};

/// Drops the oldest turns until `count(messages)` (the token count of the rendered
/// prompt) is at most `max_tokens`. System messages are always kept, and so is
/// everything from the last user message on. A turn is a non-system message and the
/// assistant (or tool) messages that answer it. Fails with `ContextOverflow` when the
/// system messages and the last user message alone do not fit.
pub fn fit_to_context(
    messages: &[ChatMessage],
    max_tokens: usize,
    count: impl Fn(&[ChatMessage]) -> Result<usize>,
) -> Result<Vec<ChatMessage>> {
    let mut kept = messages.to_vec();
    loop {
        let needed = count(&kept)?;
        if needed <= max_tokens {
            return Ok(kept);
        }
        // Everything from here on is the request being answered.
        let protected_from = kept
            .iter()
            .rposition(|m| m.role == "user")
            .unwrap_or(kept.len().saturating_sub(1));
        let Some(oldest) = kept
            .iter()
            .take(protected_from)
            .position(|m| m.role != "system")
        else {
            return Err(Error::ContextOverflow {
                needed,
                limit: max_tokens,
            });
        };
        kept.remove(oldest);
        // The replies to the dropped message go with it.
        while oldest < kept.len().saturating_sub(1)
            && kept
                .get(oldest)
                .is_some_and(|m| m.role != "system" && m.role != "user")
        {
            kept.remove(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> ChatMessage {
        ChatMessage::new(role, content)
    }

    /// Counts one token per character of content.
    fn chars(messages: &[ChatMessage]) -> Result<usize> {
        Ok(messages.iter().map(|m| m.content.len()).sum())
    }

    fn roles(messages: &[ChatMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| format!("{}:{}", m.role, m.content))
            .collect()
    }

    #[test]
    fn drops_oldest_pairs_first() {
        let conversation = vec![
            msg("system", "S"),
            msg("user", "u1"),
            msg("assistant", "a1"),
            msg("user", "u2"),
            msg("assistant", "a2"),
            msg("user", "u3"),
        ];
        assert_eq!(
            fit_to_context(&conversation, 100, chars).unwrap(),
            conversation
        );
        let fitted = fit_to_context(&conversation, 7, chars).unwrap();
        assert_eq!(
            roles(&fitted),
            ["system:S", "user:u2", "assistant:a2", "user:u3"]
        );
        let fitted = fit_to_context(&conversation, 3, chars).unwrap();
        assert_eq!(roles(&fitted), ["system:S", "user:u3"]);
    }

    #[test]
    fn overflows_when_the_last_request_alone_is_too_long() {
        let conversation = vec![msg("system", "S"), msg("user", "old"), msg("user", "long")];
        match fit_to_context(&conversation, 4, chars) {
            Err(Error::ContextOverflow { needed, limit }) => {
                assert_eq!((needed, limit), (5, 4));
            }
            other => panic!("expected ContextOverflow, got {other:?}"),
        }
    }

    #[test]
    fn counting_errors_pass_through() {
        let failing = |_: &[ChatMessage]| -> Result<usize> { Err(Error::Template("x".into())) };
        assert!(matches!(
            fit_to_context(&[msg("user", "hi")], 10, failing),
            Err(Error::Template(_))
        ));
    }
}

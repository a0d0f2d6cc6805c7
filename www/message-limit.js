// The longest message the chat page hands to the model. A message that cannot fit the
// model's context window is refused here, before it is tokenized or rendered: a megabyte
// pasted by mistake would otherwise cost a long tokenization in the worker only to fail
// with a context overflow, and a huge bubble in the conversation.

/**
 * Characters one token can stand for, at most, on any text worth sending: prose averages
 * about 4 per token and code about 3 with the catalogue's tokenizers, and only long runs of
 * one repeated character pack more. So a message longer than the context length times
 * this cannot fit, and the refusal never turns away a message the model could have read.
 */
export const MAX_CHARS_PER_TOKEN = 16;

/** The context assumed when the page cannot know it (a server answers): 32768 tokens. */
export const UNKNOWN_CONTEXT_TOKENS = 32768;

/** The most characters a message (with the system prompt) may have for `contextLength` tokens. */
export function messageLimit(contextLength) {
  const tokens = Number.isInteger(contextLength) && contextLength > 0 ? contextLength : UNKNOWN_CONTEXT_TOKENS;
  return tokens * MAX_CHARS_PER_TOKEN;
}

const count = (n) => n.toLocaleString("en-US");

/**
 * Why a message cannot be sent, or null when it may fit. `system` is the system prompt,
 * sent with every message; `contextLength` is the model's context in tokens (null when
 * unknown).
 */
export function refuseLongMessage({ message, system = "", contextLength = null, model = "the model" }) {
  const length = message.length + system.length;
  const limit = messageLimit(contextLength);
  if (length <= limit) return null;
  const context = Number.isInteger(contextLength) && contextLength > 0
    ? `${model} reads at most ${count(contextLength)} tokens`
    : `a server is assumed to read at most ${count(UNKNOWN_CONTEXT_TOKENS)} tokens`;
  return (
    `This message is too long to send: ${count(message.length)} characters` +
    (system ? ` (and ${count(system.length)} in the system prompt)` : "") +
    `, and ${context} (${count(limit)} characters at the very most). ` +
    "Shorten it: it is still in the message box."
  );
}

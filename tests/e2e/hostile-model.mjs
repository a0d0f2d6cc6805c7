// A tiny llama-architecture GGUF whose model-derived strings are hostile markup: its
// general.name, its vocabulary (the tokens it answers with) and its chat template (which
// raises an exception with markup when a message asks it to). The weights make the answer
// deterministic: every layer is zero, so the last hidden state is the embedding of the
// current token, and each embedding points the output layer at the next token of a fixed
// chain: "\n" (the end of the prompt) → each hostile token in turn → <|im_end|>.

import { byteLevelAlphabet, byteLevelSpelling, f32, i32s, str, strings, u32, writeGguf } from "./gguf-writer.mjs";

/** Each would set window.__pwned if the page ever turned it into markup. */
export const HOSTILE = {
  name: `<img src=x onerror="window.__pwned='name'"></script><script>window.__pwned='name-script'</script>`,
  template: `<img src=x onerror="window.__pwned='template'"><script>window.__pwned='template-script'</script>`,
  tokens: [
    `<img src=x onerror="window.__pwned='token-img'">`,
    `</script><script>window.__pwned='token-script'</script>`,
    `<svg onload="window.__pwned='token-svg'"><circle r="4"/></svg>`,
    `<iframe srcdoc="<script>parent.__pwned='token-iframe'</script>"></iframe>`,
    `<a href="javascript:window.__pwned='token-a'">click</a> <b onmouseover="window.__pwned='token-b'">b</b>`,
  ],
  /** Markdown link syntax: rendered as a link, whose javascript: address must not survive. */
  markdownLink: `[link](javascript:window.__pwned='token-link')`,
};

/** The message content that makes the template raise its exception. */
export const RAISE_TRIGGER = "please raise";

const DIM = 64;
const FFN = 64;
const CONTEXT = 2048;
const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const IM_END = 2;
const FIRST_BYTE = SPECIALS.length;
/** Tokens of the answer, in order; each is followed by a blank line. */
const ANSWER = [...HOSTILE.tokens, HOSTILE.markdownLink].map((text) => `${text}\n\n`);

/** ChatML, plus a raise_exception whose message is markup. */
const TEMPLATE =
  "{% for message in messages %}" +
  `{% if '${RAISE_TRIGGER}' in message['content'] %}` +
  `{{ raise_exception(${JSON.stringify(HOSTILE.template)}) }}` +
  "{% endif %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The text the model answers with, as the page should show it (before markdown). */
export const ANSWER_TEXT = ANSWER.join("");

/** @returns {Buffer} the hostile GGUF file */
export function hostileModel() {
  return scriptedModel({ name: HOSTILE.name, template: TEMPLATE, answer: ANSWER });
}

/**
 * A tiny model of the same make that answers every prompt with `answer`, one token per
 * string, then <|im_end|>.
 * @param {{ name?: string, template?: string, answer?: string[] }} [options]
 * @returns {Buffer} the GGUF file
 */
export function scriptedModel({ name = "scripted", template = TEMPLATE, answer = ANSWER } = {}) {
  const tokens = [...SPECIALS, ...byteLevelAlphabet(), ...answer.map(byteLevelSpelling)];
  const types = tokens.map((_, id) => (id < SPECIALS.length ? 3 : 1));
  const vocab = tokens.length;
  const firstAnswer = FIRST_BYTE + 256;
  const newline = FIRST_BYTE + 0x0a;

  // The token each token leads to, and the hidden-state dimension that stands for it.
  const chain = [...answer.map((_, i) => firstAnswer + i), IM_END];
  const next = (id) => {
    if (id === newline) return chain[0];
    const at = chain.indexOf(id);
    return at >= 0 && at < chain.length - 1 ? chain[at + 1] : chain[0];
  };
  const slot = new Map(chain.map((id, i) => [id, i]));

  const embedding = new Float32Array(vocab * DIM);
  for (let id = 0; id < vocab; id += 1) embedding[id * DIM + slot.get(next(id))] = 1;
  const output = new Float32Array(vocab * DIM);
  for (const [id, dim] of slot) output[id * DIM + dim] = 4;

  const ones = (n) => new Float32Array(n).fill(1);
  const zeros = (rows, cols) => new Float32Array(rows * cols);
  return writeGguf({
    metadata: {
      "general.architecture": str("llama"),
      "general.name": str(name),
      "llama.embedding_length": u32(DIM),
      "llama.block_count": u32(1),
      "llama.attention.head_count": u32(1),
      "llama.attention.head_count_kv": u32(1),
      "llama.feed_forward_length": u32(FFN),
      "llama.context_length": u32(CONTEXT),
      "llama.rope.freq_base": f32(10000),
      "llama.attention.layer_norm_rms_epsilon": f32(1e-5),
      "tokenizer.ggml.model": str("gpt2"),
      "tokenizer.ggml.pre": str("gpt-2"),
      "tokenizer.ggml.tokens": strings(tokens),
      "tokenizer.ggml.token_type": i32s(types),
      "tokenizer.ggml.merges": strings([]),
      "tokenizer.ggml.bos_token_id": u32(0),
      "tokenizer.ggml.eos_token_id": u32(IM_END),
      "tokenizer.chat_template": str(template),
    },
    tensors: [
      { name: "token_embd.weight", shape: [vocab, DIM], data: embedding },
      { name: "blk.0.attn_norm.weight", shape: [DIM], data: ones(DIM) },
      { name: "blk.0.attn_q.weight", shape: [DIM, DIM], data: zeros(DIM, DIM) },
      { name: "blk.0.attn_k.weight", shape: [DIM, DIM], data: zeros(DIM, DIM) },
      { name: "blk.0.attn_v.weight", shape: [DIM, DIM], data: zeros(DIM, DIM) },
      { name: "blk.0.attn_output.weight", shape: [DIM, DIM], data: zeros(DIM, DIM) },
      { name: "blk.0.ffn_norm.weight", shape: [DIM], data: ones(DIM) },
      { name: "blk.0.ffn_gate.weight", shape: [FFN, DIM], data: zeros(FFN, DIM) },
      { name: "blk.0.ffn_up.weight", shape: [FFN, DIM], data: zeros(FFN, DIM) },
      { name: "blk.0.ffn_down.weight", shape: [DIM, FFN], data: zeros(DIM, FFN) },
      { name: "output_norm.weight", shape: [DIM], data: ones(DIM) },
      { name: "output.weight", shape: [vocab, DIM], data: output },
    ],
  });
}

/** A server route that answers with the bytes of a model file. */
export function modelRoute(bytes) {
  return (request, response) => {
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
    response.end(bytes);
  };
}

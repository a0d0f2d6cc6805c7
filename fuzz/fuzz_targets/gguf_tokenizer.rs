//! A tokenizer built from the vocabulary in a GGUF header (`tokenizer.ggml.*`), then used:
//! sample texts and the input's last bytes encoded with and without special tokens,
//! decoded at once and token by token, arbitrary ids decoded, and the file's chat template
//! rendered with the tokenizer's BOS/EOS. Checks that nothing panics, over-allocates or
//! hangs, and that encoding only yields ids of the vocabulary.

#![no_main]

use hearth::chat::{ChatMessage, ChatTemplate};
use hearth::formats::gguf::{GgufEvent, GgufHeader, GgufReader};
use hearth::tokenizer::Tokenizer;
use hearth_fuzz::budget::limit_heap;
use libfuzzer_sys::fuzz_target;

/// Heap per input byte. Every vocabulary string is held several times over: in the
/// metadata, the BPE model's token→id and id→token maps, its merge table, the added-token
/// matcher and the byte table; each hash map entry costs far more than its text.
const HEAP_PER_INPUT_BYTE: usize = 256;
const HEAP_BASE: usize = 64 << 20;

const SAMPLES: &[&str] = &[
    "Hello, world! It's 2024-05-17: 12345 apples.",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] hi [/INST]</s><unk><pad><bos><eos><start_of_turn>",
    "  leading, trailing  \n\n\ttabs\r\n   ",
    "héllo wörld — 世界 🙂 \u{1F600} Ġ ▁ <0x41> <0xZZ>",
    "",
];

fuzz_target!(|data: &[u8]| {
    let _limit = limit_heap(HEAP_BASE + HEAP_PER_INPUT_BYTE * data.len());
    let Some(header) = read_header(data) else {
        return;
    };
    let Ok(tokenizer) = Tokenizer::from_gguf(&header.metadata) else {
        return;
    };
    // Bytes after the header are free for the fuzzer: text to encode and ids to decode.
    let tail = &data[data.len().saturating_sub(64)..];
    let tail_text = String::from_utf8_lossy(tail);
    for text in SAMPLES.iter().copied().chain([tail_text.as_ref()]) {
        for parse_special in [false, true] {
            let Ok(ids) = tokenizer.encode(text, parse_special) else {
                continue;
            };
            assert!(
                ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()),
                "encoding produced an id outside the vocabulary"
            );
            let _ = tokenizer.decode(&ids);
            detokenize(&tokenizer, &ids);
        }
    }
    let ids: Vec<u32> = tail
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % (tokenizer.vocab_size() as u32 + 8))
        .collect();
    let _ = tokenizer.decode(&ids);
    detokenize(&tokenizer, &ids);
    for id in ids {
        let _ = (
            tokenizer.token_bytes(id),
            tokenizer.id_to_token(id),
            tokenizer.is_special(id),
        );
    }
    let _ = tokenizer.stop_ids();

    if let Ok(template) = ChatTemplate::from_metadata(&header.metadata, &tokenizer) {
        let conversation = [
            ChatMessage::new("system", "You are brief."),
            ChatMessage::new("user", "Hi!"),
            ChatMessage::new("assistant", "Hello."),
            ChatMessage::new("user", tail_text.as_ref()),
        ];
        if let Ok(prompt) = template.render(&conversation, true) {
            let _ = tokenizer.encode(&prompt, true);
        }
    }
});

/// The header, read the way the loader reads a file of known length.
fn read_header(data: &[u8]) -> Option<GgufHeader> {
    let mut reader = GgufReader::with_file_len(data.len() as u64);
    reader
        .feed(data)
        .ok()?
        .into_iter()
        .find_map(|event| match event {
            GgufEvent::Header(header) => Some(header),
            GgufEvent::Tensor(_) => None,
        })
}

/// Streams `ids` out one at a time, as generation does.
fn detokenize(tokenizer: &Tokenizer, ids: &[u32]) {
    let mut detokenizer = tokenizer.detokenizer();
    let mut text = String::new();
    for &id in ids {
        text.push_str(&detokenizer.push(id));
    }
    text.push_str(&detokenizer.flush());
    assert!(!detokenizer.has_pending());
}

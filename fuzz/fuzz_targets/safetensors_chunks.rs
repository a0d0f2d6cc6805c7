//! The safetensors push reader fed in chunks whose sizes come from the input, with or
//! without the file length. Checks that it never panics or over-allocates, that the tensors
//! it hands out match its header, and that the chunking changes nothing.

#![no_main]

use hearth::formats::safetensors::{SafetensorsEvent, SafetensorsHeader, SafetensorsReader};
use hearth_fuzz::budget::limit_heap;
use hearth_fuzz::chunks::ChunkedInput;
use hearth_fuzz::tensors::{digest, TensorDigest};
use libfuzzer_sys::fuzz_target;

/// Heap a run may take per input byte: the JSON header as `serde_json::Value`s (a
/// two-byte `[]` becomes a 32-byte value, doubled while its array grows) plus its tensor
/// list, for each of the two runs compared.
const HEAP_PER_INPUT_BYTE: usize = 128;
const HEAP_BASE: usize = 16 << 20;

#[derive(Debug, PartialEq)]
struct Outcome {
    header: Option<SafetensorsHeader>,
    tensors: Vec<TensorDigest>,
    error: Option<&'static str>,
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = ChunkedInput::parse(data) else {
        return;
    };
    let _limit = limit_heap(HEAP_BASE + HEAP_PER_INPUT_BYTE * data.len());
    let chunked = run(reader(&input), input.chunks());
    let whole = run(reader(&input), std::iter::once(input.file));
    assert_eq!(chunked, whole, "chunking changed what the reader reads");
});

/// Flag bit 0: the reader knows the file length.
fn reader(input: &ChunkedInput) -> SafetensorsReader {
    match input.flags & 1 {
        0 => SafetensorsReader::new(),
        _ => SafetensorsReader::with_file_len(input.file.len() as u64),
    }
}

fn run<'a>(mut reader: SafetensorsReader, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut outcome = Outcome {
        header: None,
        tensors: Vec::new(),
        error: None,
    };
    for chunk in chunks {
        let events = match reader.feed(chunk) {
            Ok(events) => events,
            Err(e) => {
                outcome.error = Some(e.code());
                assert!(reader.feed(b"").is_err(), "a failed reader went on");
                return outcome;
            }
        };
        for event in events {
            match event {
                SafetensorsEvent::Header(header) => {
                    assert!(outcome.header.is_none(), "a second header");
                    outcome.header = Some(header);
                }
                SafetensorsEvent::Tensor(t) => {
                    let header = outcome.header.as_ref().expect("a tensor before the header");
                    let info = header
                        .tensors
                        .iter()
                        .find(|i| i.name == t.name)
                        .expect("a tensor the header does not list");
                    assert_eq!((t.dtype, &t.shape), (info.dtype, &info.shape));
                    outcome.tensors.push(digest(&t));
                }
            }
        }
    }
    match reader.finish() {
        Ok(()) => {
            let header = outcome.header.as_ref().expect("finished without a header");
            assert_eq!(
                outcome.tensors.len(),
                header.tensors.len(),
                "tensors missing"
            );
        }
        Err(e) => outcome.error = Some(e.code()),
    }
    outcome
}

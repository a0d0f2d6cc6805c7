//! The GGUF push reader fed in chunks whose sizes come from the input, with or without the
//! file length and with or without pieces. Checks that it never panics or over-allocates,
//! that what it hands out is consistent with its header, and that the chunking changes
//! nothing: the same bytes fed whole give the same header, tensors and error.

#![no_main]

use hearth::formats::gguf::{GgufEvent, GgufHeader, GgufReader};
use hearth::model::tensors::check_tensors;
use hearth::model::ModelConfig;
use hearth_fuzz::budget::limit_heap;
use hearth_fuzz::chunks::ChunkedInput;
use hearth_fuzz::tensors::{digest, TensorDigest};
use libfuzzer_sys::fuzz_target;

/// Heap a run may take per input byte. Metadata arrays of one-byte values (u8, i8, bool)
/// are kept as one `MetaValue` (56 bytes) per element, doubled while the array grows, and
/// the two runs compared are alive together.
const HEAP_PER_INPUT_BYTE: usize = 256;
const HEAP_BASE: usize = 16 << 20;

#[derive(Debug, PartialEq)]
struct Outcome {
    header: Option<GgufHeader>,
    tensors: Vec<TensorDigest>,
    error: Option<&'static str>,
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = ChunkedInput::parse(data) else {
        return;
    };
    let _limit = limit_heap(HEAP_BASE + HEAP_PER_INPUT_BYTE * data.len());
    let chunked = run(reader(&input), input.chunks());
    if let Some(header) = &chunked.header {
        // What the loader does with a header: the model's configuration and tensor check.
        if let Ok(config) = ModelConfig::from_gguf(&header.metadata, &header.tensors) {
            let _ = check_tensors(&config, &header.tensors);
        }
    }
    let whole = run(reader(&input), std::iter::once(input.file));
    assert_eq!(chunked, whole, "chunking changed what the reader reads");
});

/// Flag bit 0: the reader knows the file length; bit 1: tensors come in pieces of
/// 64 << (bits 2..6) bytes.
fn reader(input: &ChunkedInput) -> GgufReader {
    let reader = match input.flags & 1 {
        0 => GgufReader::new(),
        _ => GgufReader::with_file_len(input.file.len() as u64),
    };
    match input.flags & 2 {
        0 => reader,
        _ => reader.with_pieces(64 << ((input.flags >> 2) & 15)),
    }
}

fn run<'a>(mut reader: GgufReader, chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut outcome = Outcome {
        header: None,
        tensors: Vec::new(),
        error: None,
    };
    let mut tensors_ended = 0;
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
                GgufEvent::Header(header) => {
                    assert!(outcome.header.is_none(), "a second header");
                    outcome.header = Some(header);
                }
                GgufEvent::Tensor(t) => {
                    let header = outcome.header.as_ref().expect("a tensor before the header");
                    let info = header
                        .tensors
                        .iter()
                        .find(|i| i.name == t.name)
                        .expect("a tensor the header does not list");
                    assert_eq!(t.dtype, info.dtype);
                    tensors_ended += usize::from(t.ends_tensor());
                    outcome.tensors.push(digest(&t));
                }
            }
        }
    }
    match reader.finish() {
        Ok(()) => {
            let header = outcome.header.as_ref().expect("finished without a header");
            assert_eq!(
                tensors_ended,
                header.tensors.len(),
                "finished with tensors missing"
            );
        }
        Err(e) => outcome.error = Some(e.code()),
    }
    outcome
}

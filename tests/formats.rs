//! GGUF reader and GGUF model configuration: the real model, chunking, every metadata
//! type, and one test per kind of bad input.

mod formats_common;

use formats_common::*;
use hearth::formats::gguf::{GgufEvent, GgufHeader, GgufReader};
use hearth::formats::{DType, MetaValue, StringArray, Tensor};
use hearth::model::rope::RopeScaling;
use hearth::model::{Arch, ModelConfig, RopeStyle};
use hearth::Error;

/// Feeds `bytes` in chunks of `chunk` bytes; returns the header and the tensors.
fn read_chunked(bytes: &[u8], chunk: usize) -> hearth::Result<(GgufHeader, Vec<Tensor>)> {
    let mut reader = GgufReader::new();
    let mut header = None;
    let mut tensors = Vec::new();
    for piece in bytes.chunks(chunk) {
        for event in reader.feed(piece)? {
            match event {
                GgufEvent::Header(h) => {
                    assert!(header.is_none(), "second header event");
                    header = Some(h);
                }
                GgufEvent::Tensor(t) => tensors.push(t),
            }
        }
    }
    reader.finish()?;
    Ok((
        header.expect("finish() succeeded without a header"),
        tensors,
    ))
}

fn read_all(bytes: &[u8]) -> hearth::Result<(GgufHeader, Vec<Tensor>)> {
    read_chunked(bytes, bytes.len().max(1))
}

fn fingerprint(tensors: &[Tensor]) -> Vec<(String, DType, Vec<usize>, u64)> {
    tensors
        .iter()
        .map(|t| {
            // FNV-1a: cheap, and any change in the bytes changes it.
            let hash = t.data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            });
            (t.name.clone(), t.dtype, t.shape.clone(), hash)
        })
        .collect()
}

#[test]
fn real_model_header_and_config() {
    let bytes = real_model_bytes();
    let (header, tensors) = read_chunked(&bytes, 4096).unwrap();
    assert_eq!(header.version, 3);
    assert_eq!(header.alignment, 32);
    assert_eq!(header.tensors.len(), 272);
    assert_eq!(tensors.len(), 272);
    let count = |d: DType| header.tensors.iter().filter(|t| t.dtype == d).count();
    assert_eq!(count(DType::Q8_0), 1);
    assert_eq!(count(DType::F32), 61);
    assert_eq!(count(DType::Q4_1), 210);
    let embd = header
        .tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .unwrap();
    assert_eq!(embd.shape, vec![49152, 576]);
    assert_eq!(embd.dtype, DType::Q8_0);
    let down = header
        .tensors
        .iter()
        .find(|t| t.name == "blk.0.ffn_down.weight")
        .unwrap();
    assert_eq!(down.shape, vec![576, 1536]);
    assert_eq!(header.metadata.str("tokenizer.ggml.pre").unwrap(), "smollm");
    assert_eq!(
        header.metadata.u64("tokenizer.ggml.bos_token_id").unwrap(),
        1
    );

    let config = ModelConfig::from_gguf(&header.metadata, &header.tensors).unwrap();
    assert_eq!(config.arch, Arch::Llama);
    assert_eq!(config.n_vocab, 49152);
    assert_eq!(config.n_embd, 576);
    assert_eq!(config.n_layer, 30);
    assert_eq!(config.n_head, 9);
    assert_eq!(config.n_head_kv, 3);
    assert_eq!(config.head_dim, 64);
    assert_eq!(config.n_ff, 1536);
    assert_eq!(config.n_ctx_train, 8192);
    assert_eq!(config.rope_theta, 100000.0);
    assert_eq!(config.rope_style, RopeStyle::Pairwise);
    assert!(config.tied_embeddings);
    assert!(!config.qkv_bias);
    hearth::model::tensors::check_tensors(&config, &header.tensors).unwrap();

    // Tensor bytes arrive complete and in offset order.
    let mut by_offset = header.tensors.clone();
    by_offset.sort_by_key(|t| t.offset);
    for (info, t) in by_offset.iter().zip(&tensors) {
        assert_eq!(info.name, t.name);
        assert_eq!(info.size, t.data.len());
    }
}

#[test]
fn real_model_same_tensors_for_any_chunk_size() {
    let bytes = real_model_bytes();
    let (h1, t1) = read_chunked(&bytes, 4096).unwrap();
    let (h2, t2) = read_all(&bytes).unwrap();
    let (h3, t3) = read_chunked(&bytes, 1_048_573).unwrap();
    assert_eq!(h1, h2);
    assert_eq!(h1, h3);
    let f = fingerprint(&t1);
    assert_eq!(f, fingerprint(&t2));
    assert_eq!(f, fingerprint(&t3));
}

#[test]
fn real_model_header_only() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL_MODEL);
    let header = hearth::formats::gguf::read_gguf_header(&path)
        .unwrap_or_else(|e| panic!("{e}: get the model with scripts/fetch-models.sh"));
    assert_eq!(header.tensors.len(), 272);
    assert_eq!(header.metadata.usize("llama.block_count").unwrap(), 30);
}

#[test]
fn a_header_only_reader_emits_the_header_and_no_tensor() {
    let bytes = tiny_llama().build();
    let (h_all, _) = read_all(&bytes).unwrap();
    for chunk in [7, bytes.len()] {
        let mut reader = GgufReader::with_file_len(bytes.len() as u64).header_only();
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk) {
            events.extend(reader.feed(piece).unwrap());
        }
        assert_eq!(events.len(), 1, "chunk size {chunk}");
        assert!(matches!(&events[0], GgufEvent::Header(h) if *h == h_all));
    }
}

#[test]
fn synthetic_same_tensors_for_any_chunk_size() {
    let bytes = tiny_llama().build();
    let (h_all, t_all) = read_all(&bytes).unwrap();
    assert_eq!(t_all.len(), 20);
    for chunk in [1, 2, 7, 13, 31, 4096] {
        let (h, t) = read_chunked(&bytes, chunk).unwrap();
        assert_eq!(h, h_all, "chunk size {chunk}");
        assert_eq!(fingerprint(&t), fingerprint(&t_all), "chunk size {chunk}");
    }
    let q = t_all
        .iter()
        .find(|t| t.name == "blk.1.attn_k.weight")
        .unwrap();
    assert_eq!(q.shape, vec![4, 8]);
    let first = f32::from_le_bytes(q.data[0..4].try_into().unwrap());
    let last = f32::from_le_bytes(q.data[124..128].try_into().unwrap());
    assert_eq!((first, last), (3.0, 3.0 + 31.0 * 0.5));
}

#[test]
fn every_metadata_type_round_trips() {
    let values = vec![
        ("u8", MetaValue::U8(200)),
        ("i8", MetaValue::I8(-100)),
        ("u16", MetaValue::U16(60000)),
        ("i16", MetaValue::I16(-30000)),
        ("u32", MetaValue::U32(4_000_000_000)),
        ("i32", MetaValue::I32(-2_000_000_000)),
        ("u64", MetaValue::U64(u64::MAX - 1)),
        ("i64", MetaValue::I64(i64::MIN + 1)),
        ("f32", MetaValue::F32(1.5e-5)),
        ("f64", MetaValue::F64(-2.25e300)),
        ("bool_t", MetaValue::Bool(true)),
        ("bool_f", MetaValue::Bool(false)),
        ("string", MetaValue::String("héllo, ünïcode ✓".into())),
        ("empty_string", MetaValue::String(String::new())),
        ("array_i32", MetaValue::I32s(vec![-1, 2])),
        ("array_f32", MetaValue::F32s(vec![0.5, -1e-7])),
        (
            "array_u32",
            MetaValue::Array(vec![MetaValue::U32(1), MetaValue::U32(2)]),
        ),
        ("empty_array", MetaValue::Array(vec![])),
        (
            "array_strings",
            MetaValue::Strings(["a", "", "ccc", "ünï ✓"].into_iter().collect()),
        ),
        (
            "nested_strings",
            MetaValue::Array(vec![
                MetaValue::Strings(["x", "yy"].into_iter().collect()),
                MetaValue::Strings(StringArray::default()),
            ]),
        ),
        (
            "nested",
            MetaValue::Array(vec![
                MetaValue::Array(vec![MetaValue::U8(1), MetaValue::U8(2)]),
                MetaValue::Array(vec![MetaValue::U8(3)]),
                MetaValue::Array(vec![MetaValue::Array(vec![MetaValue::F64(0.5)])]),
            ]),
        ),
    ];
    let mut b = GgufBuilder::default();
    for (k, v) in &values {
        b = b.kv(k, v.clone());
    }
    let bytes = b.f32_tensor("t", &[2], 1.0).build();
    for chunk in [1, 3, bytes.len()] {
        let (header, tensors) = read_chunked(&bytes, chunk).unwrap();
        assert_eq!(header.metadata.entries.len(), values.len());
        for (k, v) in &values {
            assert_eq!(header.metadata.get(k), Some(v), "key {k}");
        }
        assert_eq!(tensors.len(), 1);
    }
}

#[test]
fn version_2_reads_and_alignment_is_honoured() {
    let mut b = tiny_llama().kv("general.alignment", MetaValue::U32(64));
    b.version = 2;
    let bytes = b.build();
    let (header, tensors) = read_all(&bytes).unwrap();
    assert_eq!(header.version, 2);
    assert_eq!(header.alignment, 64);
    assert_eq!(header.data_offset % 64, 0);
    assert!(header.tensors.iter().all(|t| t.offset % 64 == 0));
    assert_eq!(tensors.len(), 20);
}

#[test]
fn gaps_between_tensors_are_skipped() {
    let mut b = GgufBuilder::default()
        .f32_tensor("a", &[8], 1.0)
        .f32_tensor("b", &[8], 2.0);
    // "b" first in the index but later in the file, with a gap before it.
    b.tensors[0].offset = Some(256);
    b.tensors[1].offset = Some(64);
    let bytes = b.build();
    for chunk in [1, 5, bytes.len()] {
        let (_, tensors) = read_chunked(&bytes, chunk).unwrap();
        let names: Vec<_> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(
            f32::from_le_bytes(tensors[1].data[..4].try_into().unwrap()),
            1.0
        );
    }
}

#[test]
fn from_gguf_defaults_and_qwen2() {
    let bytes = GgufBuilder::default()
        .kv("general.architecture", MetaValue::String("qwen2".into()))
        .kv("qwen2.embedding_length", MetaValue::U32(64))
        .kv("qwen2.block_count", MetaValue::U32(1))
        .kv("qwen2.attention.head_count", MetaValue::U32(4))
        .kv("qwen2.feed_forward_length", MetaValue::U32(128))
        .kv("qwen2.context_length", MetaValue::U32(256))
        .kv(
            "qwen2.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-6),
        )
        .f32_tensor("token_embd.weight", &[10, 64], 0.0)
        .f32_tensor("output.weight", &[10, 64], 0.0)
        .build();
    let (header, _) = read_all(&bytes).unwrap();
    let c = ModelConfig::from_gguf(&header.metadata, &header.tensors).unwrap();
    assert_eq!(c.arch, Arch::Qwen2);
    assert_eq!(c.n_head_kv, 4);
    assert_eq!(c.head_dim, 16);
    assert_eq!(c.n_vocab, 10);
    assert_eq!(c.rope_theta, 10000.0);
    assert_eq!(c.rope_style, RopeStyle::RotateHalf);
    assert!(c.qkv_bias);
    assert!(!c.tied_embeddings);
}

// ---- bad input: one test per kind, each asserting the variant ----

fn read_err(bytes: &[u8]) -> Error {
    match read_all(bytes) {
        Ok(_) => panic!("reading succeeded"),
        Err(e) => e,
    }
}

#[test]
fn truncated_header() {
    let bytes = tiny_llama().build();
    let header_len = tiny_llama().header_bytes().len();
    for cut in [0, 3, 10, 30, header_len / 2, header_len - 1] {
        let e = read_err(&bytes[..cut]);
        assert!(matches!(e, Error::Truncated(_)), "cut {cut}: {e:?}");
    }
}

#[test]
fn truncated_tensor_data() {
    let bytes = tiny_llama().build();
    let e = read_err(&bytes[..bytes.len() - 1]);
    assert!(
        matches!(e, Error::Truncated(ref m) if m.contains("output_norm.weight")),
        "{e:?}"
    );
}

#[test]
fn truncation_is_reported_early_when_the_length_is_known() {
    let bytes = tiny_llama().build();
    let header_len = tiny_llama().header_bytes().len();
    let cut = &bytes[..header_len - 10];
    let mut reader = GgufReader::with_file_len(cut.len() as u64);
    let e = reader.feed(cut).unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e:?}");
}

#[test]
fn wrong_magic() {
    let mut b = tiny_llama();
    b.magic = 0x4C4C_4747;
    let e = read_err(&b.build());
    assert!(
        matches!(
            e,
            Error::BadMagic {
                format: "GGUF",
                found: 0x4C4C_4747
            }
        ),
        "{e:?}"
    );
}

#[test]
fn unknown_versions() {
    for version in [1, 4, 0x0300_0000] {
        let mut b = tiny_llama();
        b.version = version;
        let e = read_err(&b.build());
        assert!(
            matches!(e, Error::UnsupportedVersion { format: "GGUF", version: v } if v == version),
            "{e:?}"
        );
    }
}

#[test]
fn unknown_tensor_type() {
    // 31 was Q4_0_4_4, withdrawn from ggml: no size, so the header cannot be laid out.
    for id in [31, 1000] {
        let bytes = GgufBuilder::default()
            .tensor("blk.0.attn_q.weight", &[1, 256], id, vec![0; 144])
            .build();
        match read_err(&bytes) {
            Error::UnsupportedTensorType { tensor, dtype } => {
                assert_eq!(tensor, "blk.0.attn_q.weight");
                assert!(dtype.contains(&format!("ggml type {id}")), "{dtype}");
            }
            e => panic!("{e:?}"),
        }
    }
}

#[test]
fn tensor_types_hearth_cannot_decode_still_parse() {
    // Q2_K (84 bytes per 256), IQ4_XS (136 per 256), I32 (4 per 1) between decodable ones.
    let bytes = GgufBuilder::default()
        .kv("general.architecture", MetaValue::String("llama".into()))
        .tensor("a", &[2, 256], 10, vec![7; 2 * 84])
        .tensor("b", &[1, 512], 23, vec![8; 2 * 136])
        .tensor("c", &[3], 26, vec![9; 12])
        .tensor("d", &[1, 256], 14, vec![10; 210])
        .build();
    let (header, tensors) = read_chunked(&bytes, 100).unwrap();
    let info: Vec<(&str, &str, usize, bool)> = header
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.dtype.name(),
                t.size,
                t.dtype.is_supported(),
            )
        })
        .collect();
    assert_eq!(
        info,
        [
            ("a", "Q2_K", 168, false),
            ("b", "IQ4_XS", 272, false),
            ("c", "I32", 12, false),
            ("d", "Q6_K", 210, true),
        ]
    );
    // Their bytes are delivered like any others'.
    assert_eq!(tensors.len(), 4);
    assert_eq!(tensors[0].data, vec![7; 168]);
    assert_eq!(tensors[2].data, vec![9; 12]);
    // A row that does not fill whole blocks of the type is still malformed.
    let bytes = GgufBuilder::default()
        .tensor("a", &[2, 128], 10, vec![0; 84])
        .build();
    assert!(matches!(read_err(&bytes), Error::Malformed(_)));
}

#[test]
fn tensor_count_beyond_the_header_bound() {
    for n in [u64::MAX, u64::MAX / 24 + 1, 1 << 40] {
        let mut b = tiny_llama();
        b.n_tensors_override = Some(n);
        let e = read_err(&b.build());
        assert!(
            matches!(e, Error::Malformed(ref m) if m.contains("tensor count")),
            "{e:?}"
        );
    }
}

#[test]
fn kv_count_beyond_the_header_bound() {
    let mut b = tiny_llama();
    b.n_kv_override = Some(u64::MAX);
    let e = read_err(&b.build());
    assert!(
        matches!(e, Error::Malformed(ref m) if m.contains("key count")),
        "{e:?}"
    );
}

#[test]
fn counts_beyond_a_known_file_length() {
    let mut b = tiny_llama();
    b.n_tensors_override = Some(1000);
    let bytes = b.build();
    let mut reader = GgufReader::with_file_len(bytes.len() as u64);
    let e = reader.feed(&bytes).unwrap_err();
    assert!(
        matches!(e, Error::Malformed(ref m) if m.contains("tensor count")),
        "{e:?}"
    );
}

#[test]
fn array_length_overflows() {
    let mut payload = 4u32.to_le_bytes().to_vec(); // u32 elements
    payload.extend(u64::MAX.to_le_bytes());
    let bytes = GgufBuilder::default().raw_kv("big", 9, payload).build();
    let e = read_err(&bytes);
    assert!(
        matches!(e, Error::Malformed(ref m) if m.contains("'big'")),
        "{e:?}"
    );
}

#[test]
fn string_length_overflows() {
    for len in [u64::MAX, 1 << 30] {
        let mut payload = len.to_le_bytes().to_vec();
        payload.extend(b"abc");
        let bytes = GgufBuilder::default().raw_kv("s", 8, payload).build();
        let e = read_err(&bytes);
        assert!(
            matches!(e, Error::Malformed(ref m) if m.contains("length")),
            "{e:?}"
        );
    }
}

#[test]
fn string_longer_than_a_known_file() {
    let mut payload = 5000u64.to_le_bytes().to_vec();
    payload.extend(b"abc");
    let bytes = GgufBuilder::default().raw_kv("s", 8, payload).build();
    let mut reader = GgufReader::with_file_len(bytes.len() as u64);
    let e = reader.feed(&bytes).unwrap_err();
    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
}

#[test]
fn invalid_metadata_values() {
    let bad_bool = GgufBuilder::default().raw_kv("b", 7, vec![2]).build();
    assert!(matches!(read_err(&bad_bool), Error::Malformed(_)));
    let bad_type = GgufBuilder::default().raw_kv("x", 13, vec![0; 8]).build();
    assert!(matches!(read_err(&bad_type), Error::Malformed(_)));
    let twice = GgufBuilder::default()
        .kv("k", MetaValue::U8(1))
        .kv("k", MetaValue::U8(2))
        .build();
    assert!(matches!(read_err(&twice), Error::Malformed(ref m) if m.contains("twice")));
    let alignment = GgufBuilder::default()
        .raw_kv("general.alignment", 4, 24u32.to_le_bytes().to_vec())
        .build();
    assert!(matches!(read_err(&alignment), Error::Malformed(ref m) if m.contains("alignment")));
}

#[test]
fn dims_overflow() {
    let bytes = GgufBuilder::default()
        .tensor("huge", &[1 << 33, 1 << 33, 1 << 33], 0, vec![])
        .build();
    let e = read_err(&bytes);
    assert!(
        matches!(e, Error::Malformed(ref m) if m.contains("huge")),
        "{e:?}"
    );
    let five_dims = GgufBuilder::default()
        .tensor("t", &[1, 1, 1, 1, 1], 0, vec![0; 4])
        .build();
    assert!(matches!(read_err(&five_dims), Error::Malformed(_)));
    let partial_block = GgufBuilder::default()
        .tensor("q", &[2, 16], 8, vec![0; 34])
        .build();
    assert!(matches!(read_err(&partial_block), Error::Malformed(ref m) if m.contains("'q'")));
}

#[test]
fn tensor_past_the_end_of_the_file() {
    let mut b = GgufBuilder::default().f32_tensor("a", &[8], 1.0);
    b.tensors[0].offset = Some(1 << 20);
    let mut bytes = b.build();
    bytes.truncate(bytes.len() - (1 << 20));
    let mut reader = GgufReader::with_file_len(bytes.len() as u64);
    let e = reader.feed(&bytes).unwrap_err();
    assert!(
        matches!(e, Error::Malformed(ref m) if m.contains("past the end")),
        "{e:?}"
    );
    // Without the length, the same file is reported truncated at the end.
    assert!(matches!(read_err(&bytes), Error::Truncated(_)));
}

#[test]
fn overlapping_and_duplicate_tensors() {
    let mut b = GgufBuilder::default()
        .f32_tensor("a", &[16], 1.0)
        .f32_tensor("b", &[8], 2.0);
    b.tensors[1].offset = Some(32);
    assert!(matches!(read_err(&b.build()), Error::Malformed(ref m) if m.contains("overlap")));
    let dup = GgufBuilder::default()
        .f32_tensor("a", &[8], 1.0)
        .f32_tensor("a", &[8], 2.0)
        .build();
    assert!(matches!(read_err(&dup), Error::Malformed(ref m) if m.contains("twice")));
    let mut misaligned = GgufBuilder::default().f32_tensor("a", &[8], 1.0);
    misaligned.tensors[0].offset = Some(4);
    assert!(matches!(read_err(&misaligned.build()), Error::Malformed(_)));
}

#[test]
fn unknown_architecture() {
    let mut b = tiny_llama();
    b.kvs[0] = {
        let (t, v) = encode_value(&MetaValue::String("mamba".into()));
        ("general.architecture".into(), t, v)
    };
    let (header, _) = read_all(&b.build()).unwrap();
    let e = ModelConfig::from_gguf(&header.metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedArchitecture(ref a) if a == "mamba"),
        "{e:?}"
    );
}

/// A GGUF's rope scaling is read by kind (linear, YaRN with llama.cpp's defaults, Llama 3.1's
/// frequency factors tensor); a kind hearth does not know, or factors beside another kind,
/// is refused by name rather than run as plain rope.
#[test]
fn gguf_rope_scaling_is_read_or_refused_by_kind() {
    let (header, _) = read_all(&tiny_llama().build()).unwrap();
    let with = |kind: &str, extra: &[(&str, MetaValue)]| {
        let mut metadata = header.metadata.clone();
        metadata.insert("llama.rope.scaling.type", MetaValue::String(kind.into()));
        for (key, value) in extra {
            metadata.insert(*key, value.clone());
        }
        ModelConfig::from_gguf(&metadata, &header.tensors)
    };
    let factor = ("llama.rope.scaling.factor", MetaValue::F32(4.0));
    assert_eq!(with("none", &[]).unwrap().rope_scaling, RopeScaling::None);
    assert_eq!(
        with("linear", std::slice::from_ref(&factor))
            .unwrap()
            .rope_scaling,
        RopeScaling::Linear { factor: 4.0 }
    );
    let original = (
        "llama.rope.scaling.original_context_length",
        MetaValue::U32(64),
    );
    assert_eq!(
        with("yarn", &[factor.clone(), original])
            .unwrap()
            .rope_scaling,
        RopeScaling::Yarn {
            factor: 4.0,
            original_context: 64,
            beta_fast: 32.0,
            beta_slow: 1.0
        }
    );
    let e = with("yarn", &[]).unwrap_err();
    assert!(
        matches!(e, Error::MissingKey(ref k) if k == "llama.rope.scaling.factor"),
        "{e:?}"
    );
    let e = with("longrope", &[factor]).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("rope scaling 'longrope'")),
        "{e:?}"
    );
    assert_eq!(e.code(), "unsupported_feature");

    let mut tensors = header.tensors.clone();
    let mut freqs = tensors[0].clone();
    freqs.name = "rope_freqs.weight".into();
    tensors.push(freqs);
    let config = ModelConfig::from_gguf(&header.metadata, &tensors).unwrap();
    assert_eq!(config.rope_scaling, RopeScaling::FreqFactors);
    let needed = config.tensors();
    let stored = needed
        .iter()
        .find(|t| t.name == "rope_freqs.weight")
        .unwrap();
    assert_eq!(stored.shape, vec![config.head_dim / 2]);
    let mut metadata = header.metadata.clone();
    metadata.insert(
        "llama.rope.scaling.type",
        MetaValue::String("linear".into()),
    );
    metadata.insert("llama.rope.scaling.factor", MetaValue::F32(2.0));
    let e = ModelConfig::from_gguf(&metadata, &tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("rope_freqs.weight")),
        "{e:?}"
    );
    // LongRoPE's factors belong to Phi-3; a llama file with them is refused, as is a
    // magnitude without LongRoPE and rope over part of each head.
    let mut tensors = header.tensors.clone();
    let mut long = tensors[0].clone();
    long.name = "rope_factors_long.weight".into();
    tensors.push(long);
    let e = ModelConfig::from_gguf(&header.metadata, &tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("rope_factors_long")),
        "{e:?}"
    );
    let mut metadata = header.metadata.clone();
    metadata.insert("llama.rope.scaling.attn_factor", MetaValue::F32(1.2));
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("attn_factor")),
        "{e:?}"
    );
    let mut metadata = header.metadata.clone();
    let head_dim = ModelConfig::from_gguf(&metadata, &header.tensors)
        .unwrap()
        .head_dim;
    metadata.insert(
        "llama.rope.dimension_count",
        MetaValue::U32(head_dim as u32 / 2),
    );
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("partial rotary")),
        "{e:?}"
    );
    // Gemma 3 27B (62 layers, llama.cpp's rule) scales queries by 1/√(n_embd / n_head).
    let mut metadata = header.metadata.clone();
    let llama_keys: Vec<(String, MetaValue)> = metadata
        .entries
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("llama.")?.to_string(), v.clone())))
        .collect();
    for (k, v) in llama_keys {
        metadata.insert(format!("gemma3.{k}"), v);
    }
    metadata.insert("general.architecture", MetaValue::String("gemma3".into()));
    metadata.insert("gemma3.block_count", MetaValue::U32(62));
    let n_embd = ModelConfig::from_gguf(&header.metadata, &header.tensors)
        .unwrap()
        .n_embd;
    metadata.insert("gemma3.attention.key_length", MetaValue::U32(n_embd as u32));
    metadata.entries.remove("gemma3.rope.dimension_count");
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("Gemma 3 27B")),
        "{e:?}"
    );
    // Logit soft-capping (Gemma 2's) is not computed.
    let mut metadata = header.metadata.clone();
    metadata.insert("llama.final_logit_softcapping", MetaValue::F32(30.0));
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedFeature(ref m) if m.contains("soft-capping")),
        "{e:?}"
    );
}

#[test]
fn invalid_gguf_configs() {
    let (header, _) = read_all(&tiny_llama().build()).unwrap();
    let mut metadata = header.metadata.clone();
    metadata.insert("llama.attention.head_count_kv", MetaValue::U32(3));
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig(ref m) if m.contains("n_head_kv")),
        "{e:?}"
    );
    let mut metadata = header.metadata.clone();
    metadata.insert("llama.block_count", MetaValue::U32(0));
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig(ref m) if m.contains("n_layer")),
        "{e:?}"
    );
    let mut metadata = header.metadata.clone();
    metadata.entries.remove("llama.embedding_length");
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::MissingKey(ref k) if k == "llama.embedding_length"),
        "{e:?}"
    );
    let mut metadata = header.metadata.clone();
    metadata.insert("llama.block_count", MetaValue::String("2".into()));
    let e = ModelConfig::from_gguf(&metadata, &header.tensors).unwrap_err();
    assert!(
        matches!(e, Error::WrongType { ref key, .. } if key == "llama.block_count"),
        "{e:?}"
    );
}

#[test]
fn tiny_model_tensors_check() {
    use hearth::model::tensors::check_tensors;
    let (header, _) = read_all(&tiny_llama().build()).unwrap();
    let config = ModelConfig::from_gguf(&header.metadata, &header.tensors).unwrap();
    assert!(config.tied_embeddings);
    check_tensors(&config, &header.tensors).unwrap();

    let mut missing = header.tensors.clone();
    missing.retain(|t| t.name != "blk.1.ffn_up.weight");
    let e = check_tensors(&config, &missing).unwrap_err();
    assert!(
        matches!(e, Error::MissingTensor(ref n) if n == "blk.1.ffn_up.weight"),
        "{e:?}"
    );

    let mut wrong = header.tensors.clone();
    wrong
        .iter_mut()
        .find(|t| t.name == "blk.0.attn_k.weight")
        .unwrap()
        .shape = vec![8, 8];
    let e = check_tensors(&config, &wrong).unwrap_err();
    assert!(
        matches!(e, Error::ShapeMismatch { ref tensor, ref expected, ref found }
            if tensor == "blk.0.attn_k.weight" && expected == &[4, 8] && found == &[8, 8]),
        "{e:?}"
    );

    // Norm weights given as [1, n] are accepted; extra tensors are ignored.
    let mut extra = header.tensors.clone();
    extra
        .iter_mut()
        .find(|t| t.name == "output_norm.weight")
        .unwrap()
        .shape = vec![1, 8];
    let mut rope = extra[0].clone();
    rope.name = "rope_freqs".into();
    extra.push(rope);
    check_tensors(&config, &extra).unwrap();

    // A used tensor of a type hearth cannot decode is refused by name; an unused one is
    // not looked at.
    let q2_k = hearth::formats::gguf::dtype_from_ggml(10).unwrap();
    let mut unused = extra.clone();
    unused.last_mut().unwrap().dtype = q2_k;
    check_tensors(&config, &unused).unwrap();
    let mut used = header.tensors.clone();
    used.iter_mut()
        .find(|t| t.name == "blk.1.ffn_gate.weight")
        .unwrap()
        .dtype = q2_k;
    let e = check_tensors(&config, &used).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedTensorType { ref tensor, ref dtype }
            if tensor == "blk.1.ffn_gate.weight" && dtype.contains("Q2_K")),
        "{e:?}"
    );
}

#[test]
fn the_loader_refuses_an_undecodable_weight_at_the_header() {
    use hearth::model::loader::{LoadEvent, ModelLoader};
    // Decodable K-quant: the header is ready.
    let b = wide_llama(12, 256 * 144);
    let mut loader = ModelLoader::gguf();
    let events = loader.feed(&b.header_bytes()).unwrap();
    assert!(matches!(events.as_slice(), [LoadEvent::Ready(_)]));
    // Q2_K: refused with the header's bytes alone, before any weight arrives.
    let b = wide_llama(10, 256 * 84);
    let mut loader = ModelLoader::gguf();
    match loader.feed(&b.header_bytes()).unwrap_err() {
        Error::UnsupportedTensorType { tensor, dtype } => {
            assert_eq!(tensor, "blk.0.ffn_up.weight");
            assert!(dtype.contains("Q2_K"), "{dtype}");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn real_model_header_in_tiny_chunks() {
    let bytes = real_model_bytes();
    let expected = read_all(&bytes).unwrap().0;
    let end = expected.data_offset as usize;
    let mut reader = GgufReader::new();
    let mut header = None;
    // Seven-byte pieces: every string and array of the 49k-token vocabulary is split.
    for piece in bytes[..end].chunks(7) {
        for event in reader.feed(piece).unwrap() {
            if let GgufEvent::Header(h) = event {
                header = Some(h);
            }
        }
    }
    assert_eq!(header.as_ref(), Some(&expected));
}

#[test]
fn a_failed_reader_stays_failed() {
    let mut b = tiny_llama();
    b.magic = 0;
    let bytes = b.build();
    let mut reader = GgufReader::new();
    assert!(matches!(
        reader.feed(&bytes[..8]),
        Err(Error::BadMagic { .. })
    ));
    assert!(matches!(
        reader.feed(&bytes[8..]),
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn large_tensors_arrive_in_pieces_of_whole_row_blocks() {
    // [100, 64] f32 (256-byte rows, 25,600 bytes) and a small [8, 4] one, in pieces of at
    // most 10,000 bytes: 32-row pieces (8,192 bytes), the last one ragged.
    let bytes = GgufBuilder::default()
        .f32_tensor("big", &[100, 64], 1.0)
        .f32_tensor("small", &[8, 4], 2.0)
        .build();
    let (_, whole) = read_all(&bytes).unwrap();
    for chunk in [7, 4096, bytes.len()] {
        let mut reader = GgufReader::new().with_pieces(10_000);
        let mut pieces = Vec::new();
        for part in bytes.chunks(chunk) {
            for event in reader.feed(part).unwrap() {
                if let GgufEvent::Tensor(t) = event {
                    pieces.push(t);
                }
            }
        }
        reader.finish().unwrap();
        let big: Vec<&Tensor> = pieces.iter().filter(|t| t.name == "big").collect();
        let rows: Vec<(usize, usize, bool)> = big
            .iter()
            .map(|t| (t.first_row(), t.shape[0], t.ends_tensor()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, 32, false),
                (32, 32, false),
                (64, 32, false),
                (96, 4, true)
            ],
            "chunk {chunk}"
        );
        assert!(big
            .iter()
            .all(|t| t.shape[1] == 64 && t.data.len() == t.shape[0] * 256));
        let joined: Vec<u8> = big.iter().flat_map(|t| t.data.clone()).collect();
        let original = whole.iter().find(|t| t.name == "big").unwrap();
        assert_eq!(joined, original.data);
        let small: Vec<&Tensor> = pieces.iter().filter(|t| t.name == "small").collect();
        assert_eq!(small.len(), 1);
        assert!(small[0].piece.is_none() && small[0].ends_tensor());
    }
}

//! CPU dequantization against the `gguf` package's reference (fixtures written by
//! scripts/gen-quant-fixtures.py), bit for bit, and the typed error for types hearth
//! cannot decode.

use hearth::formats::gguf::{dtype_from_ggml, ggml_type_id};
use hearth::formats::quant::{dequantize_f32, dequantize_into, dequantize_rows_f32};
use hearth::formats::{DType, Tensor};
use hearth::Error;

/// Every quantized type hearth decodes, with its fixture file.
const FIXTURES: [(DType, &str); 8] = [
    (DType::Q8_0, "q8_0"),
    (DType::Q4_0, "q4_0"),
    (DType::Q4_1, "q4_1"),
    (DType::Q5_0, "q5_0"),
    (DType::Q5_1, "q5_1"),
    (DType::Q4_K, "q4_k"),
    (DType::Q5_K, "q5_k"),
    (DType::Q6_K, "q6_k"),
];

/// The blocks of a fixture and the values they decode to.
fn fixture(dtype: DType, name: &str) -> (Vec<u8>, Vec<f32>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/quant")
        .join(format!("{name}.bin"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (see scripts/gen-quant-fixtures.py)",
            path.display()
        )
    });
    let per_block = dtype.block_bytes() + 4 * dtype.block_len();
    assert_eq!(bytes.len() % per_block, 0, "{name}: not whole blocks");
    let n_blocks = bytes.len() / per_block;
    assert!(n_blocks >= 2, "{name}: too few blocks");
    let (blocks, values) = bytes.split_at(n_blocks * dtype.block_bytes());
    let values = values
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (blocks.to_vec(), values)
}

fn assert_bits_equal(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
        panic!(
            "{what}: element {i} is {} ({:#010x}), the reference has {} ({:#010x})",
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

#[test]
fn every_quantized_type_matches_the_reference_bit_for_bit() {
    for (dtype, name) in FIXTURES {
        let (blocks, want) = fixture(dtype, name);
        let mut got = vec![f32::NAN; want.len()];
        dequantize_into(dtype, &blocks, &mut got).unwrap();
        assert_bits_equal(name, &got, &want);
        // Some fixture value is negative, some zero, and none is NaN or infinite: the
        // scales cover their signs.
        assert!(want.iter().any(|&x| x < 0.0), "{name}");
        assert!(want.contains(&0.0), "{name}");
        assert!(want.iter().all(|x| x.is_finite()), "{name}");
    }
}

#[test]
fn rows_of_a_quantized_tensor_decode_alone() {
    for (dtype, name) in FIXTURES {
        let (blocks, want) = fixture(dtype, name);
        let n_blocks = blocks.len() / dtype.block_bytes();
        let t = Tensor {
            name: name.to_string(),
            dtype,
            shape: vec![n_blocks, dtype.block_len()],
            data: blocks,
            piece: None,
        };
        assert_bits_equal(name, &dequantize_f32(&t).unwrap(), &want);
        let last = dequantize_rows_f32(&t, n_blocks - 1..n_blocks).unwrap();
        assert_bits_equal(name, &last, &want[(n_blocks - 1) * dtype.block_len()..]);
    }
}

#[test]
fn block_sizes_of_the_decoded_types() {
    for (dtype, len, bytes, id) in [
        (DType::Q5_0, 32, 22, 6),
        (DType::Q5_1, 32, 24, 7),
        (DType::Q4_K, 256, 144, 12),
        (DType::Q5_K, 256, 176, 13),
        (DType::Q6_K, 256, 210, 14),
    ] {
        assert_eq!((dtype.block_len(), dtype.block_bytes()), (len, bytes));
        assert_eq!(dtype_from_ggml(id), Some(dtype));
        assert!(dtype.is_supported());
    }
}

#[test]
fn ggml_type_ids_round_trip() {
    for id in 0..64 {
        match dtype_from_ggml(id) {
            Some(dtype) => {
                assert_eq!(ggml_type_id(dtype), id, "{dtype:?}");
                assert!(
                    dtype.block_len() > 0 && dtype.block_bytes() > 0,
                    "{dtype:?}"
                );
            }
            // Withdrawn (Q4_2, Q4_3, the repacked Q4_0/IQ4_NL variants) or not yet assigned.
            None => assert!(matches!(id, 4 | 5 | 31..=33 | 36..=38 | 42..), "{id}"),
        }
    }
}

#[test]
fn types_hearth_cannot_decode_keep_their_ggml_sizes_and_names() {
    for (id, name, len, bytes) in [
        (9, "Q8_1", 32, 36),
        (10, "Q2_K", 256, 84),
        (11, "Q3_K", 256, 110),
        (15, "Q8_K", 256, 292),
        (16, "IQ2_XXS", 256, 66),
        (23, "IQ4_XS", 256, 136),
        (26, "I32", 1, 4),
        (28, "F64", 1, 8),
        (29, "IQ1_M", 256, 56),
        (34, "TQ1_0", 256, 54),
        (35, "TQ2_0", 256, 66),
        (39, "MXFP4", 32, 17),
    ] {
        let dtype = dtype_from_ggml(id).unwrap();
        assert!(
            matches!(dtype, DType::Unsupported(t) if t.id() == id),
            "{id}"
        );
        assert!(!dtype.is_supported());
        assert_eq!(dtype.name(), name);
        assert_eq!(
            (dtype.block_len(), dtype.block_bytes()),
            (len, bytes),
            "{name}"
        );
    }
    // Every tensor record holds one: it stays as small as a plain enum.
    assert!(std::mem::size_of::<DType>() <= 2);
    assert_eq!(
        format!("{:?}", dtype_from_ggml(10).unwrap()),
        "Unsupported(Q2_K)"
    );
}

#[test]
fn dequantizing_an_unsupported_type_names_the_tensor() {
    let q2_k = dtype_from_ggml(10).unwrap();
    let t = Tensor {
        name: "blk.0.ffn_down.weight".into(),
        dtype: q2_k,
        shape: vec![2, 256],
        data: vec![0; 2 * 84],
        piece: None,
    };
    for result in [dequantize_f32(&t), dequantize_rows_f32(&t, 0..1)] {
        match result.unwrap_err() {
            Error::UnsupportedTensorType { tensor, dtype } => {
                assert_eq!(tensor, "blk.0.ffn_down.weight");
                assert!(dtype.contains("Q2_K"), "{dtype}");
            }
            e => panic!("{e:?}"),
        }
    }
    let mut out = vec![0.0; 256];
    let e = dequantize_into(q2_k, &[0; 84], &mut out).unwrap_err();
    assert!(matches!(e, Error::UnsupportedTensorType { .. }), "{e:?}");
}

#[test]
fn wrong_lengths_of_new_types_are_typed_errors() {
    let mut out = vec![0.0; 256];
    let e = dequantize_into(DType::Q6_K, &[0; 209], &mut out).unwrap_err();
    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
    let mut out = vec![0.0; 32];
    let e = dequantize_into(DType::Q4_K, &[0; 144], &mut out).unwrap_err();
    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
}

//! Shared helpers for integration tests.
#![allow(dead_code)]

use hearth::gpu::GpuContext;

/// The GPU device for tests. A missing adapter FAILS the test: a skipped GPU test would
/// hide that nothing was checked. (`HEARTH_REQUIRE_GPU=1` / `CI=true` only change the
/// wording; the outcome is a failure either way.)
pub fn gpu_context() -> GpuContext {
    match pollster::block_on(GpuContext::new()) {
        Ok(ctx) => ctx,
        Err(e) => {
            let required = std::env::var("HEARTH_REQUIRE_GPU").is_ok_and(|v| v == "1")
                || std::env::var("CI").is_ok_and(|v| v == "true");
            panic!(
                "no GPU adapter ({e}){}. Install a Vulkan driver: \
                 `apt-get install -y mesa-vulkan-drivers` (lavapipe runs on the CPU), and set \
                 XDG_RUNTIME_DIR=/tmp.",
                if required {
                    " and this run requires one"
                } else {
                    ""
                }
            )
        }
    }
}

/// Path of the SmolLM2 test model, failing with how to get it when absent.
pub fn smollm2_path() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-models.sh",
        path.display()
    );
    path
}

/// Deterministic pseudo-random values in [-1, 1) (xorshift), so failures reproduce.
pub fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A `[rows, cols]` tensor of `dtype` with pseudo-random contents: values in [-1, 1) for
/// float types; for quantized types random block bytes with every f16 scale field set to a
/// small random value (no NaN or infinity), so weights stay of order 1.
pub fn random_tensor(
    dtype: hearth::formats::DType,
    rows: usize,
    cols: usize,
    seed: u64,
) -> hearth::formats::Tensor {
    use hearth::formats::DType;
    let n = rows * cols;
    let values = random_vec(n, seed);
    let data: Vec<u8> = match dtype {
        DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        DType::BF16 => values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
        _ => {
            let bytes = dtype.bytes_for(n).expect("whole blocks");
            let noise = random_vec(bytes, seed ^ 0x5555);
            let mut data: Vec<u8> = noise.iter().map(|v| ((v + 1.0) * 128.0) as u8).collect();
            // (offset of each f16 scale field in a block, its magnitude)
            let fields: &[(usize, f32)] = match dtype {
                DType::Q8_0 => &[(0, 1.0 / 127.0)],
                DType::Q4_0 | DType::Q5_0 => &[(0, 1.0 / 16.0)],
                DType::Q4_1 | DType::Q5_1 => &[(0, 1.0 / 16.0), (2, 0.5)],
                DType::Q4_K | DType::Q5_K => &[(0, 1.0 / 512.0), (2, 1.0 / 64.0)],
                DType::Q6_K => &[(208, 1.0 / 2048.0)],
                other => panic!("no random blocks for {other:?}"),
            };
            let block = dtype.block_bytes();
            let scales = random_vec(data.len() / block * fields.len(), seed ^ 0xAAAA);
            let mut s = scales.iter();
            for b in data.chunks_exact_mut(block) {
                for &(at, mag) in fields {
                    let v = half::f16::from_f32(s.next().copied().unwrap_or(0.5) * mag);
                    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
            data
        }
    };
    hearth::formats::Tensor {
        name: format!("w{seed}"),
        dtype,
        shape: vec![rows, cols],
        data,
        piece: None,
    }
}

/// Every file type the GPU holds, with a row length its blocks fill.
pub const WEIGHT_DTYPES: [hearth::formats::DType; 11] = [
    hearth::formats::DType::F32,
    hearth::formats::DType::F16,
    hearth::formats::DType::BF16,
    hearth::formats::DType::Q8_0,
    hearth::formats::DType::Q4_0,
    hearth::formats::DType::Q4_1,
    hearth::formats::DType::Q5_0,
    hearth::formats::DType::Q5_1,
    hearth::formats::DType::Q4_K,
    hearth::formats::DType::Q5_K,
    hearth::formats::DType::Q6_K,
];

/// The header entries of tensors already read (for model builders in tests).
pub fn infos(tensors: &[hearth::formats::Tensor]) -> Vec<hearth::formats::TensorInfo> {
    tensors
        .iter()
        .map(|t| hearth::formats::TensorInfo {
            name: t.name.clone(),
            dtype: t.dtype,
            shape: t.shape.clone(),
            offset: 0,
            size: t.data.len(),
        })
        .collect()
}

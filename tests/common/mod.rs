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

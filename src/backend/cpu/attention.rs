//! Causal attention over the cache, one task per (token, head) spread over the threads,
//! with dots and sums in eight lanes so they vectorize: decoding a token at position p
//! reads p keys and values per head, which single-threaded scalar code made a tenth of
//! the step.

use super::matrix::dot;
use crate::reference::{softmax, visible_keys, Heads};

/// `softmax(q kᵀ / √d) v` for the `n` tokens of `q` (`[n, n_head × head_dim]`) at positions
/// `pos..pos + n`, each attending to cache positions up to its own (the last `window` of
/// them in a sliding-window layer).
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    pos: usize,
    heads: Heads,
    window: Option<usize>,
) -> Vec<f32> {
    let Heads {
        n_head, head_dim, ..
    } = heads;
    let (kv_dim, scale) = (heads.kv_dim(), heads.scale());
    let mut out = vec![0.0; q.len()];
    let head = |i: usize, (qh, oh): (&[f32], &mut [f32])| {
        let (t, h) = (i / n_head, i % n_head);
        let keys = visible_keys(pos + t, window);
        let kv_off = heads.kv_offset(h);
        let at = |p: usize| p * kv_dim + kv_off..p * kv_dim + kv_off + head_dim;
        let mut scores: Vec<f32> = keys
            .clone()
            .map(|p| dot(qh, &k_cache[at(p)]) * scale)
            .collect();
        softmax(&mut scores);
        for (p, a) in keys.zip(&scores) {
            for (o, v) in oh.iter_mut().zip(&v_cache[at(p)]) {
                *o += a * v;
            }
        }
    };
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    {
        use rayon::prelude::*;
        q.par_chunks_exact(head_dim)
            .zip(out.par_chunks_exact_mut(head_dim))
            .enumerate()
            .for_each(|(i, pair)| head(i, pair));
    }
    #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
    q.chunks_exact(head_dim)
        .zip(out.chunks_exact_mut(head_dim))
        .enumerate()
        .for_each(|(i, pair)| head(i, pair));
    out
}

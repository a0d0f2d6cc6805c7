//! `hearth perplexity`: llama.cpp's protocol, as the fixtures state it. The whole file is
//! tokenized (no BOS, special tokens not parsed) and cut into consecutive windows of `ctx`
//! tokens (the remainder dropped); each window starts from an empty cache; every token of a
//! window after the first is scored by its negative log-likelihood under the full softmax;
//! ppl = exp(mean NLL). A model that adds BOS has each window's first token replaced by BOS,
//! as llama.cpp's perplexity tool does. `--stepwise` computes each window one token at a time, as decoding
//! does, instead of as one prompt.

use std::path::Path;

use hearth::{Error, Result};

use crate::load::{self, BackendArg};

pub async fn perplexity(
    model: &Path,
    file: &Path,
    ctx: usize,
    stepwise: bool,
    backend: BackendArg,
) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let mut engine = load::engine(model, Some(ctx), backend).await?;
    let tokens = engine.tokenizer().encode(&text, false)?;
    let n_vocab = engine.info().config.n_vocab;
    let bos = engine.bos_added();
    if ctx < 2 {
        return Err(Error::InvalidRequest("--ctx must be at least 2".into()));
    }
    let windows = tokens.len() / ctx;
    if windows == 0 {
        return Err(Error::InvalidRequest(format!(
            "the file has {} tokens, fewer than one window of {ctx}",
            tokens.len()
        )));
    }
    let bar = load::count_bar("windows", windows as u64);
    let mut nll_sum = 0.0f64;
    let mut scored = 0usize;
    for w in 0..windows {
        let mut window = tokens[w * ctx..(w + 1) * ctx].to_vec();
        if let Some(bos) = bos {
            window[0] = bos;
        }
        let window = window.as_slice();
        let logits = if stepwise {
            engine.logits_stepwise(window).await?
        } else {
            engine.logits_all(window).await?
        };
        for i in 0..ctx - 1 {
            let row = &logits[i * n_vocab..(i + 1) * n_vocab];
            nll_sum += nll(row, window[i + 1] as usize);
            scored += 1;
        }
        bar.inc(1);
        eprintln!(
            "window {}/{windows}: running ppl {:.4}",
            w + 1,
            (nll_sum / scored as f64).exp()
        );
    }
    bar.finish_and_clear();
    println!(
        "tokens: {}, windows: {windows}, scored: {scored}",
        tokens.len()
    );
    println!("ppl: {:.4}", (nll_sum / scored as f64).exp());
    Ok(())
}

/// −log softmax(row)[target], in f64 with the max subtracted.
fn nll(row: &[f32], target: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    let target = row.get(target).copied().unwrap_or(f32::NEG_INFINITY) as f64;
    (sum.ln() + max) - target
}

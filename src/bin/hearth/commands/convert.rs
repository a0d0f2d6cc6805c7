//! `hearth convert`: a model (GGUF or folder) → a Hugging Face folder with fp16 weights.

use std::path::Path;

use half::f16;
use hearth::formats::quant;
use hearth::model::convert;
use hearth::model::loader::{load_path, LoadEvent};
use hearth::model::ModelHeader;
use hearth::tokenizer::Tokenizer;
use hearth::{Error, Result};

use crate::load;

pub fn convert(model: &Path, outdir: &Path) -> Result<()> {
    let mut header: Option<ModelHeader> = None;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f16>)> = Vec::new();
    let bar = load::progress_bar("reading");
    load_path(model, 1 << 20, |event, done, total| {
        bar.set_length(total);
        bar.set_position(done);
        match event {
            LoadEvent::Ready(h) => header = Some(h),
            // The loader has checked that every tensor the model uses is decodable, so
            // one that is not is unused, and the folder would skip it anyway.
            LoadEvent::Tensor(t) if !t.dtype.is_supported() => {}
            LoadEvent::Tensor(t) => {
                let data = quant::to_f16(&t)?;
                tensors.push((t.name, t.shape, data));
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let header =
        header.ok_or_else(|| Error::Truncated("the model header never completed".into()))?;
    let tokenizer_json = match &header.tokenizer_json {
        Some(json) => json.clone(),
        None => Tokenizer::from_gguf(&header.metadata)?.to_json()?,
    };
    convert::write_hf_folder(
        outdir,
        &header,
        tensors.into_iter().map(Ok),
        &tokenizer_json,
    )?;
    println!("wrote {}", outdir.display());
    Ok(())
}

//! Loading from disk: a `.gguf` file or a Hugging Face folder read in chunks through the
//! same [`ModelLoader`] the browser feeds.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::formats::hf::ShardIndex;

use super::{LoadEvent, ModelLoader};

/// Loads a `.gguf` file or a Hugging Face folder (config.json, tokenizer.json, optional
/// tokenizer_config.json, and model.safetensors or shards with
/// model.safetensors.index.json), reading `chunk_size` bytes at a time. `on_event` gets
/// each event with the bytes read so far and the total.
pub fn load_path(
    path: &Path,
    chunk_size: usize,
    on_event: impl FnMut(LoadEvent, u64, u64) -> Result<()>,
) -> Result<()> {
    load_path_with_pieces(path, chunk_size, None, on_event)
}

/// [`load_path`], with a GGUF file's tensors larger than `pieces` bytes handed out in pieces
/// of whole rows.
pub fn load_path_with_pieces(
    path: &Path,
    chunk_size: usize,
    pieces: Option<usize>,
    mut on_event: impl FnMut(LoadEvent, u64, u64) -> Result<()>,
) -> Result<()> {
    if chunk_size == 0 {
        return Err(Error::InvalidRequest("chunk size must be positive".into()));
    }
    let io = |p: &Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    let read = |name: &str| std::fs::read(path.join(name)).map_err(|e| io(&path.join(name), e));

    let (mut loader, files) = if path.is_dir() {
        let config = read("config.json")?;
        let tokenizer = read("tokenizer.json")?;
        let tokenizer_config = match path.join("tokenizer_config.json").exists() {
            true => Some(read("tokenizer_config.json")?),
            false => None,
        };
        let index_path = path.join("model.safetensors.index.json");
        let index = match index_path.exists() {
            true => Some(read("model.safetensors.index.json")?),
            false => None,
        };
        let names = match &index {
            Some(bytes) => ShardIndex::parse(bytes)?.files(),
            None => vec!["model.safetensors".to_string()],
        };
        let mut loader = ModelLoader::hf(
            &config,
            &tokenizer,
            tokenizer_config.as_deref(),
            names.clone(),
        )?;
        if let Some(bytes) = &index {
            loader = loader.with_index(bytes)?;
        }
        let files = names
            .iter()
            .map(|n| (Some(n.clone()), path.join(n)))
            .collect();
        (loader, files)
    } else {
        (
            ModelLoader::gguf_with_pieces(pieces),
            vec![(None, path.to_path_buf())],
        )
    };

    let mut lens = Vec::with_capacity(files.len());
    for (_, file) in &files {
        lens.push(std::fs::metadata(file).map_err(|e| io(file, e))?.len());
    }
    let total: u64 = lens.iter().sum();
    let mut done = 0u64;
    let mut buf = vec![0u8; chunk_size];
    for ((name, file), len) in files.iter().zip(lens) {
        if let Some(name) = name {
            loader.begin_file(name)?;
        }
        loader.set_file_len(len)?;
        let mut f = std::fs::File::open(file).map_err(|e| io(file, e))?;
        loop {
            let n = f.read(&mut buf).map_err(|e| io(file, e))?;
            if n == 0 {
                break;
            }
            done += n as u64;
            for event in loader.feed(&buf[..n])? {
                on_event(event, done, total)?;
            }
        }
    }
    loader.finish()
}

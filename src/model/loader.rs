//! The one entry point the engine uses to load a model, natively and in the browser alike.
//!
//! A [`ModelLoader`] is fed the model's bytes in chunks (file by file for Hugging Face
//! shards) and emits [`LoadEvent::Ready`] once the configuration and the tensor index are
//! known and checked against the architecture — before any tensor bytes are needed — then
//! one [`LoadEvent::Tensor`] per tensor, under its canonical GGUF name.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::formats::gguf::{GgufEvent, GgufReader};
use crate::formats::hf::{HfTokenizerConfig, ShardIndex};
use crate::formats::safetensors::{SafetensorsEvent, SafetensorsReader};
use crate::formats::{DType, Metadata, Tensor, TensorInfo};
use crate::model::config::ModelConfig;
use crate::model::header::ModelHeader;
use crate::model::hf_config as hf;
use crate::model::tensors::{check_tensors, expected_tensors, shape_matches};

#[derive(Debug, Clone)]
// `Ready` happens once per load; boxing it would only add noise at every match.
#[allow(clippy::large_enum_variant)]
pub enum LoadEvent {
    Ready(ModelHeader),
    Tensor(Tensor),
}

/// Push loader for a GGUF file or a Hugging Face safetensors model.
pub struct ModelLoader {
    source: Source,
    /// Set by the first error: a loader that failed part-way must not go on emitting.
    failed: bool,
}

// One per load: boxing the larger variant would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
enum Source {
    Gguf(GgufSource),
    Hf(HfSource),
}

struct GgufSource {
    reader: GgufReader,
    /// Large tensors are handed out in pieces of at most this many bytes.
    pieces: Option<usize>,
    /// Bytes fed so far (a file length can only be set before the first).
    fed: u64,
    begun: bool,
}

struct HfSource {
    config: ModelConfig,
    metadata: Metadata,
    tokenizer_json: String,
    tokenizer: HfTokenizerConfig,
    /// `torch_dtype` from config.json, for the provisional index of sharded models.
    declared_dtype: DType,
    files: Vec<String>,
    index: Option<ShardIndex>,
    /// The file being read and its reader.
    current: Option<(String, SafetensorsReader, u64)>,
    files_begun: HashSet<String>,
    ready_sent: bool,
    /// Canonical name → expected shape.
    expected: HashMap<String, Vec<usize>>,
    /// Canonical names whose shard header has been seen.
    seen: HashSet<String>,
}

impl ModelLoader {
    /// A loader for one GGUF file.
    pub fn gguf() -> Self {
        Self::gguf_with_pieces(None)
    }

    /// A loader for one GGUF file that hands out tensors larger than `pieces` bytes as
    /// pieces of whole rows (`Tensor::piece`), so that no buffer holds a large tensor whole.
    pub fn gguf_with_pieces(pieces: Option<usize>) -> Self {
        let reader = match pieces {
            Some(bytes) => GgufReader::new().with_pieces(bytes),
            None => GgufReader::new(),
        };
        ModelLoader {
            source: Source::Gguf(GgufSource {
                reader,
                pieces,
                fed: 0,
                begun: false,
            }),
            failed: false,
        }
    }

    /// A loader for a Hugging Face model: its JSON files and the names of its safetensors
    /// files, which are then fed in turn after [`ModelLoader::begin_file`]. A model split
    /// into several files also needs [`ModelLoader::with_index`].
    pub fn hf(
        config_json: &[u8],
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
        safetensors_files: Vec<String>,
    ) -> Result<Self> {
        let config = hf::config_from_hf(config_json)?;
        let tokenizer = match tokenizer_config_json {
            Some(bytes) => HfTokenizerConfig::parse(bytes)?,
            None => HfTokenizerConfig::default(),
        };
        let metadata = hf::hf_metadata(&config);
        let tokenizer_json = String::from_utf8(tokenizer_json.to_vec())
            .map_err(|_| Error::Tokenizer("tokenizer.json is not UTF-8".into()))?;
        if safetensors_files.is_empty() {
            return Err(Error::InvalidConfig(
                "a Hugging Face model needs at least one safetensors file".into(),
            ));
        }
        let expected = expected_tensors(&config).into_iter().collect();
        Ok(ModelLoader {
            source: Source::Hf(HfSource {
                declared_dtype: hf::torch_dtype(config_json)?.unwrap_or(DType::BF16),
                config,
                metadata,
                tokenizer_json,
                tokenizer,
                files: safetensors_files,
                index: None,
                current: None,
                files_begun: HashSet::new(),
                ready_sent: false,
                expected,
                seen: HashSet::new(),
            }),
            failed: false,
        })
    }

    /// Adds `model.safetensors.index.json`, which a sharded model needs so that it can be
    /// checked before its shards are downloaded.
    pub fn with_index(mut self, index_json: &[u8]) -> Result<Self> {
        let Source::Hf(source) = &mut self.source else {
            return Err(Error::InvalidRequest(
                "a safetensors index only applies to Hugging Face models".into(),
            ));
        };
        let index = ShardIndex::parse(index_json)?;
        if let Some(file) = index
            .files()
            .into_iter()
            .find(|f| !source.files.contains(f))
        {
            return Err(Error::InvalidConfig(format!(
                "the safetensors index names '{file}', which is not among the model's files"
            )));
        }
        source.index = Some(index);
        Ok(self)
    }

    /// Starts the next file (a safetensors shard; optional for GGUF, a single file). A
    /// sharded model's `Ready` comes from its index, with the first `feed` of the first file.
    pub fn begin_file(&mut self, name: &str) -> Result<()> {
        match &mut self.source {
            Source::Gguf(g) => {
                if g.begun || g.fed > 0 {
                    return Err(Error::InvalidRequest(
                        "a GGUF model is a single file".into(),
                    ));
                }
                g.begun = true;
                Ok(())
            }
            Source::Hf(h) => h.begin_file(name),
        }
    }

    /// The length of the current file, when known, so that sizes and offsets past its end
    /// are rejected before their bytes are awaited. Call before feeding the file's bytes.
    pub fn set_file_len(&mut self, len: u64) -> Result<()> {
        match &mut self.source {
            Source::Gguf(g) if g.fed == 0 => {
                let reader = GgufReader::with_file_len(len);
                g.reader = match g.pieces {
                    Some(bytes) => reader.with_pieces(bytes),
                    None => reader,
                };
            }
            Source::Hf(HfSource {
                current: Some((_, reader, 0)),
                ..
            }) => *reader = SafetensorsReader::with_file_len(len),
            _ => {
                return Err(Error::InvalidRequest(
                    "the file length must be set before the file's bytes".into(),
                ))
            }
        }
        Ok(())
    }

    /// Consumes the next chunk of the current file.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        if self.failed {
            return Err(failed_before());
        }
        let result = match &mut self.source {
            Source::Gguf(g) => g.feed(chunk),
            Source::Hf(h) => h.feed(chunk),
        };
        self.failed = result.is_err();
        result
    }

    /// Checks that every file and every tensor arrived complete.
    pub fn finish(&mut self) -> Result<()> {
        if self.failed {
            return Err(failed_before());
        }
        match &mut self.source {
            Source::Gguf(g) => g.reader.finish(),
            Source::Hf(h) => h.finish(),
        }
    }
}

impl GgufSource {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        self.fed += chunk.len() as u64;
        let mut out = Vec::new();
        for event in self.reader.feed(chunk)? {
            match event {
                GgufEvent::Header(header) => {
                    let config = ModelConfig::from_gguf(&header.metadata, &header.tensors)?;
                    check_tensors(&config, &header.tensors)?;
                    out.push(LoadEvent::Ready(ModelHeader {
                        config,
                        metadata: header.metadata,
                        tokenizer_json: None,
                        hf_tokenizer: None,
                        tensors: header.tensors,
                        source_format: "gguf",
                    }));
                }
                GgufEvent::Tensor(t) => out.push(LoadEvent::Tensor(t)),
            }
        }
        Ok(out)
    }
}

impl HfSource {
    fn header(&self, tensors: Vec<TensorInfo>) -> ModelHeader {
        ModelHeader {
            config: self.config.clone(),
            metadata: self.metadata.clone(),
            tokenizer_json: Some(self.tokenizer_json.clone()),
            hf_tokenizer: Some(self.tokenizer.clone()),
            tensors,
            source_format: "safetensors",
        }
    }

    fn begin_file(&mut self, name: &str) -> Result<()> {
        if !self.files.iter().any(|f| f == name) {
            return Err(Error::InvalidRequest(format!(
                "'{name}' is not one of the model's safetensors files"
            )));
        }
        if !self.files_begun.insert(name.to_string()) {
            return Err(Error::InvalidRequest(format!("'{name}' was already read")));
        }
        if let Some((_, reader, _)) = &self.current {
            reader.finish()?;
        }
        self.current = Some((name.to_string(), SafetensorsReader::new(), 0));
        if self.files.len() > 1 && self.index.is_none() {
            return Err(needs_index());
        }
        Ok(())
    }

    /// The tensor list of a sharded model, from its index.
    fn index_tensors(&self) -> Result<Vec<TensorInfo>> {
        let Some(index) = &self.index else {
            return Err(needs_index());
        };
        let listed: HashSet<String> = index
            .weight_map
            .keys()
            .filter_map(|n| self.config.arch.table().hf_to_gguf(n))
            .collect();
        let mut tensors = Vec::new();
        for (name, shape) in expected_tensors(&self.config) {
            if !listed.contains(&name) {
                return Err(Error::MissingTensor(name));
            }
            let size = self
                .declared_dtype
                .bytes_for(shape.iter().product())
                .unwrap_or(0);
            tensors.push(TensorInfo {
                name,
                dtype: self.declared_dtype,
                shape,
                offset: 0,
                size,
            });
        }
        Ok(tensors)
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        let Some((file, reader, fed)) = self.current.as_mut() else {
            return Err(Error::InvalidRequest(
                "begin_file() must name a safetensors file before its bytes".into(),
            ));
        };
        *fed += chunk.len() as u64;
        let file = file.clone();
        let events = reader.feed(chunk)?;
        let mut out = Vec::new();
        if !self.ready_sent && self.files.len() > 1 {
            out.push(LoadEvent::Ready(self.header(self.index_tensors()?)));
            self.ready_sent = true;
        }
        for event in events {
            match event {
                SafetensorsEvent::Header(header) => {
                    let tensors = self.map_shard(&file, header.tensors)?;
                    if !self.ready_sent {
                        check_tensors(&self.config, &tensors)?;
                        out.push(LoadEvent::Ready(self.header(tensors)));
                        self.ready_sent = true;
                    }
                }
                SafetensorsEvent::Tensor(mut t) => {
                    if let Some(name) = self.config.arch.table().hf_to_gguf(&t.name) {
                        t.name = name;
                        out.push(LoadEvent::Tensor(t));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Renames a shard's tensors to canonical names (dropping those the engine does not
    /// use) and checks their shapes against the architecture.
    fn map_shard(&mut self, file: &str, tensors: Vec<TensorInfo>) -> Result<Vec<TensorInfo>> {
        let mut mapped = Vec::with_capacity(tensors.len());
        for mut t in tensors {
            let Some(name) = self.config.arch.table().hf_to_gguf(&t.name) else {
                continue;
            };
            if let Some(expected) = self.expected.get(&name) {
                if !shape_matches(expected, &t.shape) {
                    return Err(Error::ShapeMismatch {
                        tensor: name,
                        expected: expected.clone(),
                        found: t.shape,
                    });
                }
            }
            if !self.seen.insert(name.clone()) {
                return Err(Error::Malformed(format!(
                    "tensor '{}' appears twice (again in '{file}')",
                    t.name
                )));
            }
            t.name = name;
            mapped.push(t);
        }
        Ok(mapped)
    }

    fn finish(&mut self) -> Result<()> {
        match &self.current {
            Some((_, reader, _)) => reader.finish()?,
            None => return Err(Error::Truncated("no safetensors file was read".into())),
        }
        if let Some(file) = self.files.iter().find(|f| !self.files_begun.contains(*f)) {
            return Err(Error::Truncated(format!(
                "safetensors file '{file}' was not read"
            )));
        }
        let mut missing: Vec<&String> = self
            .expected
            .keys()
            .filter(|n| !self.seen.contains(*n))
            .collect();
        missing.sort();
        match missing.first() {
            Some(name) => Err(Error::MissingTensor(name.to_string())),
            None => Ok(()),
        }
    }
}

fn failed_before() -> Error {
    Error::InvalidRequest("the model loader already failed".into())
}

fn needs_index() -> Error {
    Error::InvalidConfig(
        "a model split into several safetensors files needs model.safetensors.index.json".into(),
    )
}

/// Loads a `.gguf` file or a Hugging Face folder (config.json, tokenizer.json, optional
/// tokenizer_config.json, and model.safetensors or shards with
/// model.safetensors.index.json), reading `chunk_size` bytes at a time. `on_event` gets
/// each event with the bytes read so far and the total.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_path(
    path: &std::path::Path,
    chunk_size: usize,
    on_event: impl FnMut(LoadEvent, u64, u64) -> Result<()>,
) -> Result<()> {
    load_path_with_pieces(path, chunk_size, None, on_event)
}

/// [`load_path`], with a GGUF file's tensors larger than `pieces` bytes handed out in pieces
/// of whole rows.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_path_with_pieces(
    path: &std::path::Path,
    chunk_size: usize,
    pieces: Option<usize>,
    mut on_event: impl FnMut(LoadEvent, u64, u64) -> Result<()>,
) -> Result<()> {
    use std::io::Read;

    if chunk_size == 0 {
        return Err(Error::InvalidRequest("chunk size must be positive".into()));
    }
    let io = |p: &std::path::Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
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

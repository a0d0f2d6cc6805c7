//! The GGUF side of the loader: one file, whose header holds the configuration, the
//! tokenizer and the tensor index.

use crate::error::{Error, Result};
use crate::formats::gguf::{GgufEvent, GgufReader};
use crate::model::config::ModelConfig;
use crate::model::fused::{split_infos, split_tensor};
use crate::model::header::ModelHeader;
use crate::model::tensors::check_tensors;

use super::LoadEvent;

pub(super) struct GgufSource {
    reader: GgufReader,
    /// Large tensors are handed out in pieces of at most this many bytes.
    pieces: Option<usize>,
    /// Bytes fed so far (a file length can only be set before the first).
    fed: u64,
    begun: bool,
    /// The model's configuration, once the header is read (fused tensors split by it).
    config: Option<ModelConfig>,
}

impl GgufSource {
    pub(super) fn new(pieces: Option<usize>) -> Self {
        GgufSource {
            reader: Self::reader(GgufReader::new(), pieces),
            pieces,
            fed: 0,
            begun: false,
            config: None,
        }
    }

    fn reader(reader: GgufReader, pieces: Option<usize>) -> GgufReader {
        match pieces {
            Some(bytes) => reader.with_pieces(bytes),
            None => reader,
        }
    }

    pub(super) fn begin_file(&mut self) -> Result<()> {
        if self.begun || self.fed > 0 {
            return Err(Error::InvalidRequest(
                "a GGUF model is a single file".into(),
            ));
        }
        self.begun = true;
        Ok(())
    }

    /// `false` once bytes were fed: the reader is already under way.
    pub(super) fn set_file_len(&mut self, len: u64) -> bool {
        if self.fed > 0 {
            return false;
        }
        self.reader = Self::reader(GgufReader::with_file_len(len), self.pieces);
        true
    }

    pub(super) fn finish(&self) -> Result<()> {
        self.reader.finish()
    }

    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<LoadEvent>> {
        self.fed += chunk.len() as u64;
        let mut out = Vec::new();
        for event in self.reader.feed(chunk)? {
            match event {
                GgufEvent::Header(header) => {
                    let config = ModelConfig::from_gguf(&header.metadata, &header.tensors)?;
                    let tensors = split_infos(&config, header.tensors)?;
                    check_tensors(&config, &tensors)?;
                    self.config = Some(config.clone());
                    out.push(LoadEvent::Ready(ModelHeader {
                        config,
                        metadata: header.metadata,
                        tokenizer_json: None,
                        hf_tokenizer: None,
                        tensors,
                        source_format: "gguf",
                    }));
                }
                GgufEvent::Tensor(t) => match &self.config {
                    Some(config) => {
                        out.extend(split_tensor(config, t)?.into_iter().map(LoadEvent::Tensor))
                    }
                    None => out.push(LoadEvent::Tensor(t)),
                },
            }
        }
        Ok(out)
    }
}

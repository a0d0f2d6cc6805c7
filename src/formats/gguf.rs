//! GGUF push reader (versions 2 and 3).
//!
//! Feed it byte chunks of any size with [`GgufReader::feed`]. It hands out one
//! [`GgufEvent::Header`] as soon as the header (metadata and tensor index) is complete, then
//! one [`GgufEvent::Tensor`] per tensor, in ascending offset order, as each tensor's bytes
//! complete. It buffers only the unparsed tail of the header and the tensor being filled.
//!
//! The header is parsed item by item (a scalar, a string, an array's prefix, a tensor
//! record); an item that is not yet complete records how many bytes it needs and parsing
//! resumes only once they have arrived, so many tiny chunks cost linear time.
//!
//! Layout (all little-endian): magic `GGUF`, u32 version, u64 n_tensors, u64 n_kv, then
//! n_kv `(string key, u32 type, value)`, then n_tensors `(string name, u32 n_dims,
//! u64 ne[n_dims], u32 ggml_type, u64 offset)`, padding to `general.alignment`, tensor data.
//! A string is a u64 byte length followed by UTF-8 bytes.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::formats::tensor_stream::TensorStream;
use crate::formats::{DType, GgmlType, MetaValue, Metadata, StringArray, TensorInfo};

/// `GGUF` read as a little-endian u32.
pub const GGUF_MAGIC: u32 = 0x4655_4747;
/// Alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Upper bound on the header size. The largest real headers (vocabularies of ~250k tokens
/// with merges) are tens of MiB; anything past this is treated as a malformed file rather
/// than buffered.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;
/// The metadata key of a model's chat template (Jinja).
pub const CHAT_TEMPLATE_KEY: &str = "tokenizer.chat_template";
/// ggml supports at most 4 dimensions.
const MAX_DIMS: u32 = 4;
/// Metadata arrays nested deeper than this are rejected (real files nest at most once).
const MAX_ARRAY_DEPTH: usize = 8;
/// Smallest possible encodings, used to bound counts before anything is allocated.
const MIN_KV_BYTES: u64 = 8 + 4 + 1; // empty key, type, one-byte value
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8; // empty name, n_dims = 0, type, offset

/// GGUF metadata value type ids.
mod meta_type {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// The tensor element type for a ggml type id: a type hearth decodes, or
/// [`DType::Unsupported`] for any other type in ggml's table. `None` for an id without a
/// known block size, whose tensors cannot even be measured.
pub fn dtype_from_ggml(type_id: u32) -> Option<DType> {
    Some(match type_id {
        0 => DType::F32,
        1 => DType::F16,
        2 => DType::Q4_0,
        3 => DType::Q4_1,
        6 => DType::Q5_0,
        7 => DType::Q5_1,
        8 => DType::Q8_0,
        12 => DType::Q4_K,
        13 => DType::Q5_K,
        14 => DType::Q6_K,
        30 => DType::BF16,
        other => DType::Unsupported(GgmlType::from_id(other)?),
    })
}

/// The ggml type id of a tensor element type (the inverse of [`dtype_from_ggml`]).
pub fn ggml_type_id(dtype: DType) -> u32 {
    match dtype {
        DType::F32 => 0,
        DType::F16 => 1,
        DType::Q4_0 => 2,
        DType::Q4_1 => 3,
        DType::Q5_0 => 6,
        DType::Q5_1 => 7,
        DType::Q8_0 => 8,
        DType::Q4_K => 12,
        DType::Q5_K => 13,
        DType::Q6_K => 14,
        DType::BF16 => 30,
        DType::Unsupported(t) => t.id(),
    }
}

/// Everything before the tensor data.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Metadata,
    /// In file order. Offsets are relative to `data_offset`.
    pub tensors: Vec<TensorInfo>,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
    pub alignment: u64,
}

#[derive(Debug, Clone)]
pub enum GgufEvent {
    Header(GgufHeader),
    Tensor(crate::formats::Tensor),
}

/// An array value being filled, one element at a time.
struct ArrayFrame {
    elem_type: u32,
    remaining: u64,
    items: ArrayItems,
}

/// The elements of an array being read: strings, i32 and f32 packed (`MetaValue::Strings`,
/// `I32s`, `F32s`), anything else as values.
enum ArrayItems {
    Values(Vec<MetaValue>),
    Strings(StringArray),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

impl ArrayItems {
    fn new(elem_type: u32, reserve: usize) -> Self {
        use meta_type as t;
        match elem_type {
            t::STRING => ArrayItems::Strings(StringArray::with_capacity(reserve)),
            t::I32 => ArrayItems::I32s(Vec::with_capacity(reserve)),
            t::F32 => ArrayItems::F32s(Vec::with_capacity(reserve)),
            _ => ArrayItems::Values(Vec::with_capacity(reserve)),
        }
    }

    fn push(&mut self, v: MetaValue) -> Result<()> {
        match (self, v) {
            (ArrayItems::Strings(a), MetaValue::String(s)) => a.push(&s)?,
            (ArrayItems::I32s(a), MetaValue::I32(v)) => a.push(v),
            (ArrayItems::F32s(a), MetaValue::F32(v)) => a.push(v),
            (ArrayItems::Values(a), v) => a.push(v),
            _ => {
                return Err(Error::Malformed(
                    "a GGUF array holds a value of another type than its own".into(),
                ))
            }
        }
        Ok(())
    }

    fn finish(self) -> MetaValue {
        match self {
            ArrayItems::Values(mut a) => {
                a.shrink_to_fit();
                MetaValue::Array(a)
            }
            ArrayItems::Strings(mut a) => {
                a.shrink_to_fit();
                MetaValue::Strings(a)
            }
            ArrayItems::I32s(mut a) => {
                a.shrink_to_fit();
                MetaValue::I32s(a)
            }
            ArrayItems::F32s(mut a) => {
                a.shrink_to_fit();
                MetaValue::F32s(a)
            }
        }
    }
}

/// Where the header parse stands.
enum Stage {
    Magic,
    Version,
    Counts {
        version: u32,
    },
    /// Expecting the next key (or the end of the metadata).
    Key,
    /// Expecting a value of `value_type` for `key`, possibly inside arrays.
    Value {
        key: String,
        value_type: u32,
        arrays: Vec<ArrayFrame>,
    },
    TensorInfo,
}

/// Counts and results collected while the header is parsed.
#[derive(Default)]
struct HeaderProgress {
    version: u32,
    n_tensors: u64,
    n_kv: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
}

/// Outcome of one attempt to parse a header item.
enum Parsed {
    /// The item was consumed: this many bytes.
    Consumed(usize),
    /// The item needs at least this many bytes from the current position.
    NeedBytes(u64),
    /// The header is complete after consuming this many bytes.
    HeaderDone(usize),
}

/// Push reader for GGUF files. See the module docs.
pub struct GgufReader {
    file_len: Option<u64>,
    stage: Stage,
    progress: HeaderProgress,
    /// Unparsed header bytes.
    pending: Vec<u8>,
    /// Absolute file offset of `pending[0]`.
    pending_base: u64,
    /// Bytes `pending` must hold before parsing is worth retrying.
    need: u64,
    data: Option<TensorStream>,
    /// Set by the first error: the parse state is then not to be trusted.
    failed: bool,
    /// Only the header is wanted: bytes after it are ignored, not gathered into tensors.
    header_only: bool,
    /// Tensors larger than this are handed out in pieces (`with_pieces`).
    max_piece: Option<usize>,
}

impl Default for GgufReader {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufReader {
    pub fn new() -> Self {
        GgufReader {
            file_len: None,
            stage: Stage::Magic,
            progress: HeaderProgress::default(),
            pending: Vec::new(),
            pending_base: 0,
            need: 4,
            data: None,
            failed: false,
            max_piece: None,
            header_only: false,
        }
    }

    /// Hands out tensors larger than `bytes` as pieces of whole rows (`Tensor::piece`), so
    /// that no buffer of the reader or its consumer holds a whole large tensor.
    pub fn with_pieces(mut self, bytes: usize) -> Self {
        self.max_piece = Some(bytes.max(1));
        self
    }

    /// A reader that knows the total file length, so it can reject counts, strings and
    /// tensors that reach past the end of the file before waiting for their bytes.
    pub fn with_file_len(file_len: u64) -> Self {
        GgufReader {
            file_len: Some(file_len),
            ..Self::new()
        }
    }

    /// A reader that stops at the header: the data section is not read (no tensor
    /// events), and nothing is reserved for tensors that are not wanted.
    pub fn header_only(mut self) -> Self {
        self.header_only = true;
        self
    }

    /// Whether the header has been parsed.
    pub fn header_done(&self) -> bool {
        self.data.is_some()
    }

    /// Consumes the next chunk of the file; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<GgufEvent>> {
        if self.failed {
            return Err(Error::InvalidRequest(
                "the GGUF reader already failed".into(),
            ));
        }
        let result = self.feed_inner(chunk);
        self.failed = result.is_err();
        result
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<Vec<GgufEvent>> {
        let mut events = Vec::new();
        if let Some(data) = self.data.as_mut() {
            if self.header_only {
                return Ok(events);
            }
            let mut tensors = Vec::new();
            data.consume(chunk, &mut tensors);
            return Ok(tensors.into_iter().map(GgufEvent::Tensor).collect());
        }
        self.pending.extend_from_slice(chunk);
        if (self.pending.len() as u64) < self.need {
            return Ok(events);
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.parse_pending(&pending, &mut events);
        if self.data.is_none() {
            self.pending = pending;
        }
        let consumed = result?;
        if self.data.is_none() {
            self.pending.drain(..consumed);
            self.pending_base += consumed as u64;
        }
        Ok(events)
    }

    /// Parses as many header items from `pending` as are complete; returns the bytes
    /// consumed. Once the header completes, the rest of `pending` goes to the data section.
    fn parse_pending(&mut self, pending: &[u8], events: &mut Vec<GgufEvent>) -> Result<usize> {
        let mut pos = 0usize;
        loop {
            let header_pos = self.pending_base + pos as u64;
            match self.parse_item(&pending[pos..], header_pos)? {
                Parsed::Consumed(n) => pos += n,
                Parsed::NeedBytes(n) => {
                    let header_end = self.pending_base + pos as u64 + n;
                    if header_end > MAX_HEADER_BYTES {
                        return Err(Error::Malformed(format!(
                            "GGUF header is larger than {MAX_HEADER_BYTES} bytes"
                        )));
                    }
                    if let Some(len) = self.file_len {
                        if header_end > len {
                            return Err(Error::Truncated(format!(
                                "GGUF header needs {header_end} bytes but the file has {len}"
                            )));
                        }
                    }
                    self.need = n;
                    return Ok(pos);
                }
                Parsed::HeaderDone(n) => {
                    pos += n;
                    let header_end = self.pending_base + pos as u64;
                    let header = self.finish_header(header_end)?;
                    let mut data = TensorStream::new(
                        header.tensors.clone(),
                        header.data_offset,
                        header_end,
                        self.file_len.is_some(),
                    )
                    .with_pieces(self.max_piece);
                    events.push(GgufEvent::Header(header));
                    if !self.header_only {
                        let mut tensors = Vec::new();
                        data.consume(&pending[pos..], &mut tensors);
                        events.extend(tensors.into_iter().map(GgufEvent::Tensor));
                    }
                    self.data = Some(data);
                    return Ok(pending.len());
                }
            }
        }
    }

    /// Checks that the whole file arrived: an error when the header or a tensor is
    /// incomplete.
    pub fn finish(&self) -> Result<()> {
        let Some(data) = &self.data else {
            return Err(Error::Truncated(format!(
                "GGUF header incomplete after {} bytes",
                self.pending_base + self.pending.len() as u64
            )));
        };
        match data.incomplete() {
            None => Ok(()),
            Some(t) => Err(Error::Truncated(format!(
                "GGUF tensor '{}' incomplete: file ended at byte {}",
                t.name,
                data.pos()
            ))),
        }
    }

    /// Parses one item at the start of `buf`, advancing `self.stage`.
    fn parse_item(&mut self, buf: &[u8], header_pos: u64) -> Result<Parsed> {
        let room = self.room_after(header_pos);
        let mut r = ByteReader::new(buf);
        match &mut self.stage {
            Stage::Magic => {
                let Some(magic) = r.u32() else {
                    return Ok(Parsed::NeedBytes(4));
                };
                if magic != GGUF_MAGIC {
                    return Err(Error::BadMagic {
                        format: "GGUF",
                        found: magic,
                    });
                }
                self.stage = Stage::Version;
                Ok(Parsed::Consumed(4))
            }
            Stage::Version => {
                let Some(version) = r.u32() else {
                    return Ok(Parsed::NeedBytes(4));
                };
                if version != 2 && version != 3 {
                    return Err(Error::UnsupportedVersion {
                        format: "GGUF",
                        version,
                    });
                }
                self.stage = Stage::Counts { version };
                Ok(Parsed::Consumed(4))
            }
            Stage::Counts { version } => {
                let version = *version;
                let (Some(n_tensors), Some(n_kv)) = (r.u64(), r.u64()) else {
                    return Ok(Parsed::NeedBytes(16));
                };
                let room = room.saturating_sub(16);
                check_count("tensor count", n_tensors, MIN_TENSOR_INFO_BYTES, room)?;
                check_count("metadata key count", n_kv, MIN_KV_BYTES, room)?;
                self.progress.version = version;
                self.progress.n_tensors = n_tensors;
                self.progress.n_kv = n_kv;
                self.stage = Stage::Key;
                self.after_item(16)
            }
            Stage::Key => {
                let key = match r.string(room, "metadata key")? {
                    Some(k) => k,
                    None => return Ok(Parsed::NeedBytes(r.needed)),
                };
                let Some(value_type) = r.u32() else {
                    return Ok(Parsed::NeedBytes(r.needed));
                };
                if self.progress.metadata.contains(&key) {
                    return Err(Error::Malformed(format!(
                        "GGUF metadata key '{key}' appears twice"
                    )));
                }
                self.stage = Stage::Value {
                    key,
                    value_type,
                    arrays: Vec::new(),
                };
                Ok(Parsed::Consumed(r.pos))
            }
            Stage::Value {
                key,
                value_type,
                arrays,
            } => {
                let value = match read_value(&mut r, *value_type, key, room)? {
                    ValueRead::Need => return Ok(Parsed::NeedBytes(r.needed)),
                    ValueRead::ArrayStart(frame) => {
                        if arrays.len() >= MAX_ARRAY_DEPTH {
                            return Err(Error::Malformed(format!(
                                "GGUF metadata '{key}' nests arrays deeper than {MAX_ARRAY_DEPTH}"
                            )));
                        }
                        *value_type = frame.elem_type;
                        arrays.push(frame);
                        None
                    }
                    ValueRead::Value(v) => Some(v),
                };
                let consumed = r.pos;
                // Deliver the completed value into its array, closing every array it fills.
                let mut completed = value;
                while let Some(top) = arrays.last_mut() {
                    if let Some(v) = completed.take() {
                        top.items.push(v)?;
                        top.remaining = top.remaining.saturating_sub(1);
                    }
                    if top.remaining > 0 {
                        *value_type = top.elem_type;
                        break;
                    }
                    completed = arrays.pop().map(|done| done.items.finish());
                }
                match completed {
                    Some(v) if arrays.is_empty() => {
                        let key = std::mem::take(key);
                        self.progress.metadata.insert(key, v);
                        self.stage = Stage::Key;
                        self.after_item(consumed)
                    }
                    _ => Ok(Parsed::Consumed(consumed)),
                }
            }
            Stage::TensorInfo => {
                let info = match read_tensor_info(&mut r, room)? {
                    Some(info) => info,
                    None => return Ok(Parsed::NeedBytes(r.needed)),
                };
                if !self.progress.names.insert(info.name.clone()) {
                    return Err(Error::Malformed(format!(
                        "GGUF tensor '{}' appears twice",
                        info.name
                    )));
                }
                self.progress.tensors.push(info);
                self.after_item(r.pos)
            }
        }
    }

    /// After a key/value pair or tensor record: moves on to the next stage when the
    /// current one has all its items.
    fn after_item(&mut self, consumed: usize) -> Result<Parsed> {
        if matches!(self.stage, Stage::Key)
            && self.progress.metadata.entries.len() as u64 == self.progress.n_kv
        {
            self.stage = Stage::TensorInfo;
        }
        if matches!(self.stage, Stage::TensorInfo)
            && self.progress.tensors.len() as u64 == self.progress.n_tensors
        {
            return Ok(Parsed::HeaderDone(consumed));
        }
        Ok(Parsed::Consumed(consumed))
    }

    /// Bytes the header may still take from absolute offset `pos`: bounded by the header
    /// limit and, when known, by the file length.
    fn room_after(&self, pos: u64) -> u64 {
        match self.file_len {
            Some(len) => len.saturating_sub(pos),
            None => u64::MAX,
        }
        .min(MAX_HEADER_BYTES.saturating_sub(pos))
    }

    /// Validates the tensor layout and builds the header.
    fn finish_header(&mut self, header_end: u64) -> Result<GgufHeader> {
        let progress = std::mem::take(&mut self.progress);
        let alignment = match progress.metadata.opt_u64("general.alignment")? {
            None => DEFAULT_ALIGNMENT,
            Some(a) if a > 0 && a.is_power_of_two() => a,
            Some(a) => {
                return Err(Error::Malformed(format!(
                    "general.alignment {a} is not a power of two"
                )))
            }
        };
        let data_offset = header_end
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| Error::Malformed("GGUF data offset overflows".into()))?;
        let mut order: Vec<&TensorInfo> = progress.tensors.iter().collect();
        order.sort_by_key(|t| t.offset);
        let mut end_of_previous = 0u64;
        let mut previous_name = "";
        for t in order {
            if !t.offset.is_multiple_of(alignment) {
                return Err(Error::Malformed(format!(
                    "tensor '{}' offset {} is not a multiple of the alignment {alignment}",
                    t.name, t.offset
                )));
            }
            if t.offset < end_of_previous {
                return Err(Error::Malformed(format!(
                    "tensors '{previous_name}' and '{}' overlap",
                    t.name
                )));
            }
            let end = t
                .offset
                .checked_add(t.size as u64)
                .and_then(|e| e.checked_add(data_offset))
                .ok_or_else(|| Error::Malformed(format!("tensor '{}' end overflows", t.name)))?;
            if let Some(len) = self.file_len {
                if end > len {
                    return Err(Error::Malformed(format!(
                        "tensor '{}' ends at byte {end}, past the end of the {len}-byte file",
                        t.name
                    )));
                }
            }
            end_of_previous = end - data_offset;
            previous_name = &t.name;
        }
        Ok(GgufHeader {
            version: progress.version,
            metadata: progress.metadata,
            tensors: progress.tensors,
            data_offset,
            alignment,
        })
    }
}

/// Rejects a count whose smallest encoding cannot fit in `room` bytes.
fn check_count(what: &str, count: u64, min_bytes_each: u64, room: u64) -> Result<()> {
    match count.checked_mul(min_bytes_each) {
        Some(bytes) if bytes <= room => Ok(()),
        _ => Err(Error::Malformed(format!(
            "GGUF {what} {count} cannot fit in the {room} bytes left for the header"
        ))),
    }
}

/// Little-endian reads over a slice; a read past the end records how many bytes would
/// have been needed in `needed` and returns `None`.
struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
    needed: u64,
}

impl<'a> ByteReader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        ByteReader {
            buf,
            pos: 0,
            needed: 0,
        }
    }

    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let end = (self.pos as u64).saturating_add(n);
        if end > self.buf.len() as u64 {
            self.needed = end;
            return None;
        }
        let bytes = &self.buf[self.pos..end as usize];
        self.pos = end as usize;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N as u64)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A length-prefixed string of at most `room` bytes in total.
    fn string(&mut self, room: u64, what: &str) -> Result<Option<String>> {
        let Some(len) = self.u64() else {
            return Ok(None);
        };
        if len > room.saturating_sub(8) {
            return Err(Error::Malformed(format!(
                "GGUF {what} length {len} exceeds the {room} bytes left for the header"
            )));
        }
        let Some(bytes) = self.take(len) else {
            return Ok(None);
        };
        // GGUF requires UTF-8; a few converters wrote raw bytes in vocabularies. Keep the
        // file loadable and the damage local to those strings.
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }
}

enum ValueRead {
    Need,
    Value(MetaValue),
    ArrayStart(ArrayFrame),
}

/// Reads one metadata value of `value_type`; arrays only get their prefix read here.
fn read_value(r: &mut ByteReader, value_type: u32, key: &str, room: u64) -> Result<ValueRead> {
    use meta_type as t;
    let value = match value_type {
        t::U8 => r.u8().map(MetaValue::U8),
        t::I8 => r.u8().map(|v| MetaValue::I8(v as i8)),
        t::U16 => r.array().map(|b| MetaValue::U16(u16::from_le_bytes(b))),
        t::I16 => r.array().map(|b| MetaValue::I16(i16::from_le_bytes(b))),
        t::U32 => r.u32().map(MetaValue::U32),
        t::I32 => r.array().map(|b| MetaValue::I32(i32::from_le_bytes(b))),
        t::F32 => r.array().map(|b| MetaValue::F32(f32::from_le_bytes(b))),
        t::U64 => r.u64().map(MetaValue::U64),
        t::I64 => r.array().map(|b| MetaValue::I64(i64::from_le_bytes(b))),
        t::F64 => r.array().map(|b| MetaValue::F64(f64::from_le_bytes(b))),
        t::BOOL => match r.u8() {
            None => None,
            Some(0) => Some(MetaValue::Bool(false)),
            Some(1) => Some(MetaValue::Bool(true)),
            Some(b) => {
                return Err(Error::Malformed(format!(
                    "GGUF metadata '{key}' has bool byte {b}"
                )))
            }
        },
        t::STRING => r
            .string(room, &format!("string '{key}'"))?
            .map(MetaValue::String),
        t::ARRAY => {
            let (Some(elem_type), Some(len)) = (r.u32(), r.u64()) else {
                return Ok(ValueRead::Need);
            };
            let min_bytes = min_value_bytes(elem_type).ok_or_else(|| {
                Error::Malformed(format!(
                    "GGUF metadata '{key}' has arrays of unknown type {elem_type}"
                ))
            })?;
            check_count(
                &format!("array '{key}' length"),
                len,
                min_bytes,
                room.saturating_sub(12),
            )?;
            // Grown as elements arrive; the length alone is never trusted for memory.
            return Ok(ValueRead::ArrayStart(ArrayFrame {
                elem_type,
                remaining: len,
                items: ArrayItems::new(elem_type, len.min(1024) as usize),
            }));
        }
        other => {
            return Err(Error::Malformed(format!(
                "GGUF metadata '{key}' has unknown value type {other}"
            )))
        }
    };
    Ok(value.map_or(ValueRead::Need, ValueRead::Value))
}

/// Smallest encoding of one value of a type, or `None` for an unknown type.
fn min_value_bytes(value_type: u32) -> Option<u64> {
    use meta_type as t;
    Some(match value_type {
        t::U8 | t::I8 | t::BOOL => 1,
        t::U16 | t::I16 => 2,
        t::U32 | t::I32 | t::F32 => 4,
        t::U64 | t::I64 | t::F64 | t::STRING => 8,
        t::ARRAY => 12,
        _ => return None,
    })
}

/// Reads one tensor record; `Ok(None)` when its bytes are not all there yet.
fn read_tensor_info(r: &mut ByteReader, room: u64) -> Result<Option<TensorInfo>> {
    let Some(name) = r.string(room, "tensor name")? else {
        return Ok(None);
    };
    let Some(n_dims) = r.u32() else {
        return Ok(None);
    };
    if n_dims > MAX_DIMS {
        return Err(Error::Malformed(format!(
            "tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS})"
        )));
    }
    let mut ne = [1u64; MAX_DIMS as usize];
    for d in ne.iter_mut().take(n_dims as usize) {
        let Some(v) = r.u64() else { return Ok(None) };
        *d = v;
    }
    let (Some(type_id), Some(offset)) = (r.u32(), r.u64()) else {
        return Ok(None);
    };
    let dtype = dtype_from_ggml(type_id).ok_or_else(|| Error::UnsupportedTensorType {
        tensor: name.clone(),
        dtype: format!("unknown (ggml type {type_id})"),
    })?;
    // GGUF lists `ne` innermost first; shapes here are outermost first.
    let shape = ne[..n_dims as usize]
        .iter()
        .rev()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| Error::Malformed(format!("tensor '{name}' dimension overflows")))?;
    let n_elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Malformed(format!("tensor '{name}' element count overflows")))?;
    let row_len = shape.last().copied().unwrap_or(1);
    if !row_len.is_multiple_of(dtype.block_len()) {
        return Err(Error::Malformed(format!(
            "tensor '{name}' rows of {row_len} do not fill whole {} blocks",
            dtype.name()
        )));
    }
    let size = dtype
        .bytes_for(n_elements)
        .map_err(|e| Error::Malformed(format!("tensor '{name}': {e}")))?;
    Ok(Some(TensorInfo {
        name,
        dtype,
        shape,
        offset,
        size,
    }))
}

/// Reads only the header of a GGUF file (for `hearth info` and the like).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_gguf_header(path: &std::path::Path) -> Result<GgufHeader> {
    use std::io::Read;

    let mut file =
        std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let len = file.metadata()?.len();
    let mut reader = GgufReader::with_file_len(len).header_only();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            reader.finish()?;
            return Err(Error::Truncated("GGUF header incomplete".into()));
        }
        for event in reader.feed(&buf[..n])? {
            if let GgufEvent::Header(header) = event {
                return Ok(header);
            }
        }
    }
}

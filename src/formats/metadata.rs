//! Key/value metadata (GGUF's, or the equivalent built from Hugging Face JSON files).
//! Every lookup fails with the key it missed.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
    /// Arrays of strings, i32 and f32, packed: GGUF files read them this way (vocabularies,
    /// token types, scores).
    Strings(StringArray),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

/// Strings packed into one buffer. A GGUF vocabulary holds 100k–260k tokens and as many
/// merges; one `String` (and one allocation) each would take several times their bytes,
/// which in the browser is wasm memory that never shrinks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringArray {
    bytes: String,
    /// End offset of each string in `bytes`.
    ends: Vec<u32>,
}

impl StringArray {
    /// An empty array with room for `n` strings.
    pub fn with_capacity(n: usize) -> Self {
        StringArray {
            bytes: String::new(),
            ends: Vec::with_capacity(n),
        }
    }

    /// Appends `s`; fails past 4 GiB of text.
    pub fn push(&mut self, s: &str) -> Result<()> {
        let end = u32::try_from(self.bytes.len() + s.len())
            .map_err(|_| Error::Malformed("a string array longer than 4 GiB".into()))?;
        self.bytes.push_str(s);
        self.ends.push(end);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        self.bytes.get(start..end)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Drops spare capacity (once the array is complete).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

impl<'a> FromIterator<&'a str> for StringArray {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut out = StringArray::default();
        for s in iter {
            // Test and builder input: lengths far below the limit.
            let _ = out.push(s);
        }
        out
    }
}

impl MetaValue {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v as u64),
            MetaValue::U16(v) => Some(v as u64),
            MetaValue::U32(v) => Some(v as u64),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I8(v) => Some(v as i64),
            MetaValue::I16(v) => Some(v as i64),
            MetaValue::I32(v) => Some(v as i64),
            MetaValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v as f64),
            MetaValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Elements of an array, packed or not.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            MetaValue::Strings(a) => Some(a.len()),
            MetaValue::I32s(a) => Some(a.len()),
            MetaValue::F32s(a) => Some(a.len()),
            MetaValue::Array(a) => Some(a.len()),
            _ => None,
        }
    }

    /// The elements of an array of integers, packed or not.
    pub fn as_i64s(&self) -> Option<Vec<i64>> {
        match self {
            MetaValue::I32s(a) => Some(a.iter().map(|&v| v.into()).collect()),
            MetaValue::Array(a) => a.iter().map(MetaValue::as_i64).collect(),
            _ => None,
        }
    }

    /// The elements of an array of numbers, packed or not.
    pub fn as_f64s(&self) -> Option<Vec<f64>> {
        match self {
            MetaValue::F32s(a) => Some(a.iter().map(|&v| v.into()).collect()),
            MetaValue::I32s(a) => Some(a.iter().map(|&v| v.into()).collect()),
            MetaValue::Array(a) => a.iter().map(MetaValue::as_f64).collect(),
            _ => None,
        }
    }

    /// The strings of an array of strings, packed or not.
    pub fn as_strs(&self) -> Option<Vec<&str>> {
        match self {
            MetaValue::Strings(a) => Some(a.iter().collect()),
            MetaValue::Array(a) => a.iter().map(MetaValue::as_str).collect(),
            _ => None,
        }
    }

    /// String `i` of an array of strings.
    pub fn str_at(&self, i: usize) -> Option<&str> {
        match self {
            MetaValue::Strings(a) => a.get(i),
            MetaValue::Array(a) => a.get(i)?.as_str(),
            _ => None,
        }
    }
}

/// Ordered key/value metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub entries: BTreeMap<String, MetaValue>,
}

impl Metadata {
    pub fn insert(&mut self, key: impl Into<String>, value: MetaValue) {
        self.entries.insert(key.into(), value);
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.entries.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn require(&self, key: &str) -> Result<&MetaValue> {
        self.get(key)
            .ok_or_else(|| Error::MissingKey(key.to_string()))
    }

    fn typed<T>(
        &self,
        key: &str,
        expected: &'static str,
        f: impl Fn(&MetaValue) -> Option<T>,
    ) -> Result<T> {
        f(self.require(key)?).ok_or_else(|| Error::WrongType {
            key: key.to_string(),
            expected,
        })
    }

    pub fn u64(&self, key: &str) -> Result<u64> {
        self.typed(key, "unsigned integer", MetaValue::as_u64)
    }

    /// An unsigned integer that must fit a `usize`.
    pub fn usize(&self, key: &str) -> Result<usize> {
        let v = self.u64(key)?;
        usize::try_from(v).map_err(|_| Error::WrongType {
            key: key.to_string(),
            expected: "size",
        })
    }

    pub fn f64(&self, key: &str) -> Result<f64> {
        self.typed(key, "number", MetaValue::as_f64)
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        self.require(key)?.as_str().ok_or_else(|| Error::WrongType {
            key: key.to_string(),
            expected: "string",
        })
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "bool", MetaValue::as_bool)
    }

    pub fn array(&self, key: &str) -> Result<&[MetaValue]> {
        self.require(key)?
            .as_array()
            .ok_or_else(|| Error::WrongType {
                key: key.to_string(),
                expected: "array",
            })
    }

    /// Elements of an array of any type.
    pub fn array_len(&self, key: &str) -> Result<usize> {
        self.typed(key, "array", MetaValue::array_len)
    }

    /// An array of integers (e.g. `tokenizer.ggml.token_type`).
    pub fn i64_array(&self, key: &str) -> Result<Vec<i64>> {
        self.typed(key, "array of integers", MetaValue::as_i64s)
    }

    /// An array of numbers (e.g. `tokenizer.ggml.scores`).
    pub fn f64_array(&self, key: &str) -> Result<Vec<f64>> {
        self.typed(key, "array of numbers", MetaValue::as_f64s)
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`).
    pub fn str_array(&self, key: &str) -> Result<Vec<&str>> {
        self.require(key)?
            .as_strs()
            .ok_or_else(|| Error::WrongType {
                key: key.to_string(),
                expected: "array of strings",
            })
    }

    /// Optional lookups: `Ok(None)` when absent, an error when present with a wrong type.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        if self.contains(key) {
            self.u64(key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        if self.contains(key) {
            self.f64(key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        if self.contains(key) {
            self.str(key).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        if self.contains(key) {
            self.bool(key).map(Some)
        } else {
            Ok(None)
        }
    }
}

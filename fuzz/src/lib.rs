//! What the fuzz targets share: a heap budget that turns an allocation out of proportion to
//! the input into a crash, the chunked-input format of the push-parser targets, and a
//! digest of the tensors a reader hands out (to compare two runs over the same bytes).

pub mod budget;
pub mod chunks;
pub mod tensors;

//! Tensors as the readers hand them out, checked and reduced to a digest.

use std::hash::{DefaultHasher, Hash, Hasher};

use hearth::formats::{Piece, Tensor};

/// What identifies a tensor event: two runs over the same bytes must agree on these.
#[derive(Debug, PartialEq, Eq)]
pub struct TensorDigest {
    pub name: String,
    pub shape: Vec<usize>,
    pub piece: Option<Piece>,
    pub data_hash: u64,
}

/// Checks what a reader promises about a tensor it hands out: its bytes are exactly those
/// of its shape and type, and a piece holds whole rows within its tensor.
pub fn digest(t: &Tensor) -> TensorDigest {
    let n_elements = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .expect("a handed-out tensor's element count overflows");
    let expected = t
        .dtype
        .bytes_for(n_elements)
        .expect("a handed-out tensor does not fill whole blocks");
    assert_eq!(
        t.data.len(),
        expected,
        "tensor '{}' has the wrong byte count",
        t.name
    );
    if let Some(p) = t.piece {
        let rows = t.shape.first().copied().unwrap_or(0);
        assert!(
            p.first_row + rows <= p.total_rows,
            "a piece of '{}' reaches past its rows",
            t.name
        );
    }
    let mut hasher = DefaultHasher::new();
    t.data.hash(&mut hasher);
    TensorDigest {
        name: t.name.clone(),
        shape: t.shape.clone(),
        piece: t.piece,
        data_hash: hasher.finish(),
    }
}

//! Greedy decoding one step ahead. A decode step costs the device its work plus a round
//! trip: the host encodes the step, the browser's GPU process validates it, the adapter
//! runs it, the argmax comes back, the host decides and encodes the next. With greedy
//! decoding the next step's token is this step's argmax, which is already on the device:
//! so the next step is queued right behind this one, fed by a copy of the argmax, and the
//! device runs it while the host reads back and handles this one. When the host then asks
//! for exactly that step (that token at that position) it only reads its result; when it
//! asks for anything else (a stop string ended the answer, a new request came) the step
//! queued ahead is dropped: it wrote the KV cache only at a position past what the cache
//! holds for the caller, which the next step that reaches it overwrites.

/// Where a submitted step's token ids come from.
pub(super) enum Feed<'a> {
    /// Written from the host.
    Ids(&'a [u32]),
    /// The argmax of the step submitted before, copied on the device.
    LastArgmax,
}

/// A one-token step queued before the host asked for it.
pub(super) struct Ahead {
    /// Its position.
    pos: usize,
    /// The token it was fed (the argmax of the step before it), once that was read back;
    /// until then it runs no call.
    pub fed: Option<u32>,
    /// The readback slot its argmax is copied to.
    pub slot: usize,
    /// Its submission, which a native readback waits for.
    pub submission: wgpu::SubmissionIndex,
}

impl Ahead {
    pub fn queued(pos: usize, slot: usize, submission: wgpu::SubmissionIndex) -> Self {
        Self {
            pos,
            fed: None,
            slot,
            submission,
        }
    }

    /// Whether this step is the forward pass of `tokens` at `pos`.
    pub fn runs(&self, tokens: &[u32], pos: usize) -> bool {
        self.pos == pos && self.fed.is_some() && tokens == self.fed.as_slice()
    }

    /// The readback slot of the step queued after one that reads back through `slot`
    /// (the two alternate: a slot being read must not be written).
    pub fn other_slot(slot: usize) -> usize {
        1 - slot
    }
}

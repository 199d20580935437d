//! The serialisable position of a sampler.

use serde::{Deserialize, Serialize};

use crate::stream::StreamState;

/// Format version written into states; bumped whenever the meaning of a state, or the batches a
/// seed produces, changes.
pub(crate) const STATE_VERSION: u32 = 1;

/// Where a [`crate::Sampler`] stands: batch position, generator position and each stream's pass,
/// position and held-back groups, plus a fingerprint of the index and configuration it belongs
/// to. A few bytes per language, whatever the data size: permutations are recomputed from the
/// seed, not stored.
///
/// Save it with any serde format next to a training checkpoint and hand it to
/// [`crate::Sampler::resume`]. Its fields are private: a state is only meaningful for the
/// sampler that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerState {
    pub(crate) version: u32,
    /// Hex FNV-1a of the index and config fingerprints.
    pub(crate) fingerprint: String,
    pub(crate) next_batch: u64,
    /// ChaCha8 word position, as a decimal string: it is a `u128`, which not every format holds.
    pub(crate) rng_word_pos: String,
    pub(crate) streams: Vec<StreamState>,
}

impl SamplerState {
    /// Index of the batch a sampler resumed from this state returns first.
    pub fn next_batch(&self) -> u64 {
        self.next_batch
    }
}

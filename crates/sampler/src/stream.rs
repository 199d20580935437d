//! A stream deals the groups of one language (of one kind, optionally one source) in passes.

use serde::{Deserialize, Serialize};

use crate::error::SamplerError;
use crate::rng::{rng_for, shuffle};

/// Derivation-path tag of permutation seeds (the batch-level generator uses another).
const PERMUTATION_DOMAIN: u64 = 0x7065_726d; // "perm"

/// Deals its groups pass after pass, each pass a fresh permutation, each group exactly once per
/// pass, except that a group already in the batch being filled is held back and dealt first
/// the next time the stream is asked for a group that is not in that batch.
///
/// The permutation of pass `k` is derived from `(seed, tag, k)` alone, so a saved position
/// (pass, dealt, held back) restores the stream without storing the permutation.
#[derive(Debug)]
pub(crate) struct Stream {
    /// Eligible groups in ascending order (the order permutations start from).
    groups: Vec<u32>,
    seed: u64,
    tag: u64,
    perm: Vec<u32>,
    /// Groups of `perm` consumed in this pass (dealt or held back).
    dealt: usize,
    pass: u64,
    /// Consumed but not yet dealt because they were in the batch at the time.
    held: Vec<u32>,
}

/// The resumable position of a [`Stream`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StreamState {
    pass: u64,
    dealt: u64,
    held: Vec<u32>,
}

impl Stream {
    /// A stream over `groups` (ascending, distinct, non-empty) at the start of pass 0.
    pub(crate) fn new(groups: Vec<u32>, seed: u64, tag: u64) -> Self {
        debug_assert!(!groups.is_empty() && groups.windows(2).all(|w| w[0] < w[1]));
        let mut stream = Self { perm: groups.clone(), groups, seed, tag, dealt: 0, pass: 0, held: Vec::new() };
        stream.permute();
        stream
    }

    pub(crate) fn len(&self) -> usize {
        self.groups.len()
    }

    pub(crate) fn groups(&self) -> &[u32] {
        &self.groups
    }

    /// Index of the current pass (passes begun before it are complete).
    pub(crate) fn pass(&self) -> u64 {
        self.pass
    }

    /// Groups consumed in the current pass.
    pub(crate) fn dealt(&self) -> usize {
        self.dealt
    }

    fn permute(&mut self) {
        self.perm.copy_from_slice(&self.groups);
        shuffle(&mut self.perm, &mut rng_for(self.seed, &[PERMUTATION_DOMAIN, self.tag, self.pass]));
    }

    /// The next group for which `in_batch` is false.
    ///
    /// Terminates when fewer groups than [`Stream::len`] are in the batch (the sampler only
    /// uses streams with at least `batch_size` groups): every pass then holds a group outside
    /// the batch.
    pub(crate) fn take(&mut self, in_batch: impl Fn(u32) -> bool) -> u32 {
        if let Some(at) = self.held.iter().position(|&g| !in_batch(g)) {
            return self.held.remove(at);
        }
        loop {
            if self.dealt == self.perm.len() {
                self.pass += 1;
                self.dealt = 0;
                self.permute();
            }
            let g = self.perm[self.dealt];
            self.dealt += 1;
            if !in_batch(g) {
                return g;
            }
            self.held.push(g);
        }
    }

    pub(crate) fn state(&self) -> StreamState {
        StreamState { pass: self.pass, dealt: self.dealt as u64, held: self.held.clone() }
    }

    /// Moves to a saved position, checking it could have come from this stream.
    pub(crate) fn restore(&mut self, state: &StreamState) -> Result<(), SamplerError> {
        let dealt = usize::try_from(state.dealt).ok().filter(|&d| d <= self.len()).ok_or_else(|| {
            SamplerError::CorruptState(format!("stream position {} beyond its {} groups", state.dealt, self.len()))
        })?;
        if let Some(g) = state.held.iter().find(|g| self.groups.binary_search(g).is_err()) {
            return Err(SamplerError::CorruptState(format!("held-back group {g} is not in its stream")));
        }
        self.pass = state.pass;
        self.dealt = dealt;
        self.held.clone_from(&state.held);
        self.permute();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pass_deals_every_group_once_in_a_new_order() {
        let mut stream = Stream::new((10..30).collect(), 1, 2);
        let mut passes = Vec::new();
        for _ in 0..3 {
            let mut pass: Vec<u32> = (0..20).map(|_| stream.take(|_| false)).collect();
            passes.push(pass.clone());
            pass.sort_unstable();
            assert_eq!(pass, (10..30).collect::<Vec<_>>());
        }
        assert_ne!(passes[0], passes[1]);
        assert_ne!(passes[1], passes[2]);
        assert_eq!(stream.pass(), 2);
        assert_eq!(stream.dealt(), 20);
    }

    #[test]
    fn a_group_in_the_batch_is_held_back_and_dealt_next() {
        let mut reference = Stream::new((0..8).collect(), 3, 4);
        let order: Vec<u32> = (0..8).map(|_| reference.take(|_| false)).collect();
        let mut stream = Stream::new((0..8).collect(), 3, 4);
        let blocked = order[0];
        // The first group is "already in the batch": the stream deals the second instead.
        assert_eq!(stream.take(|g| g == blocked), order[1]);
        assert_eq!(stream.state().held, vec![blocked]);
        // Once it is free again, the held-back group comes first, then the pass continues.
        assert_eq!(stream.take(|_| false), blocked);
        assert_eq!(stream.take(|_| false), order[2]);
    }

    #[test]
    fn batches_straddling_passes_never_repeat_a_group() {
        // 4 groups, batches of 3: most batches straddle a pass boundary.
        let mut stream = Stream::new((0..4).collect(), 5, 6);
        let mut counts = [0u32; 4];
        let mut held_back = 0;
        for _ in 0..100 {
            let mut batch: Vec<u32> = Vec::new();
            for _ in 0..3 {
                let g = stream.take(|g| batch.contains(&g));
                assert!(!batch.contains(&g), "group {g} twice in {batch:?}");
                batch.push(g);
            }
            held_back += stream.state().held.len();
            for g in batch {
                counts[g as usize] += 1;
            }
        }
        assert!(held_back > 0, "the hold-back path was not exercised");
        // 300 deals are 75 passes; holding back delays a group by at most one batch.
        assert!(counts.iter().all(|c| (74..=76).contains(c)), "{counts:?}");
    }

    #[test]
    fn restore_continues_identically_and_rejects_impossible_positions() {
        let mut a = Stream::new((0..50).collect(), 7, 8);
        for i in 0..70u32 {
            a.take(|g| g % 7 == i % 7);
        }
        let state = a.state();
        let mut b = Stream::new((0..50).collect(), 7, 8);
        b.restore(&state).unwrap();
        for i in 0..100u32 {
            assert_eq!(a.take(|g| g % 5 == i % 5), b.take(|g| g % 5 == i % 5));
        }
        let too_far = StreamState { pass: 0, dealt: 51, held: vec![] };
        assert!(matches!(b.restore(&too_far), Err(SamplerError::CorruptState(_))));
        let stranger = StreamState { pass: 0, dealt: 1, held: vec![50] };
        assert!(matches!(b.restore(&stranger), Err(SamplerError::CorruptState(_))));
    }
}

//! Frozen-layer cache: the output of the bottom `layer` transformer layers for each distinct
//! token sequence, computed once (no dropout: frozen layers run in eval mode) and reused by
//! every training step and every evaluation of every run that freezes the same layers of the
//! same model. Training then costs only the top layers.
//!
//! Runs share the file, so it is written atomically under a lock on its directory
//! ([`LayerCache::load_or_build`], [`LayerCache::store`]), and it ends with a SHA-256 of its content that is
//! verified on every read: a damaged or altered file is rebuilt, with a warning, never used.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use polyret_encoder::{BatchLimits, BertModel, Mode, ModelInput, length_sorted_batches, pad_batch};
use polyret_files::HashingWriter;

use sha2::{Digest, Sha256};

use crate::TrainError;

/// Version 2 ends with a SHA-256 of everything before it; a version-1 file is rebuilt.
const MAGIC: &[u8; 4] = b"PLC2";
/// Bytes of the trailing checksum.
const DIGEST: usize = 32;

/// Where the cache of `layer` frozen layers of the model with `fingerprint` lives in `dir`.
fn cache_path(dir: &Path, fingerprint: &str, layer: usize) -> PathBuf {
    dir.join(format!("{fingerprint}-layer{layer}.bin"))
}

/// Hidden states after layer `layer` (0 = the embedding block's output), per token sequence.
#[derive(Debug, Default)]
pub struct LayerCache {
    layer: usize,
    dim: usize,
    /// Token ids → (offset into `states`, tokens).
    index: HashMap<Vec<u32>, (usize, usize)>,
    states: Vec<f32>,
    fingerprint: String,
    /// Entries added since loading or saving.
    dirty: bool,
    /// Checksum of the file as this cache last loaded or saved it: tells whether another run
    /// has rewritten it since.
    file_digest: Option<[u8; DIGEST]>,
}

impl LayerCache {
    /// The cache of `layer` frozen layers of `model` (with `fingerprint`) in `dir`: loaded,
    /// extended with the `sequences` it lacks and saved, holding the lock on `dir` throughout,
    /// so that runs of the same model started together wait for the first, then find its
    /// states cached instead of computing them again.
    pub fn load_or_build(
        dir: &Path,
        layer: usize,
        model: &BertModel,
        fingerprint: &str,
        pad_id: u32,
        sequences: Vec<&[u32]>,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let path = cache_path(dir, fingerprint, layer);
        let _lock = polyret_files::DirLock::acquire(dir)?;
        let mut cache = LayerCache::load(&path, layer, fingerprint)?
            .unwrap_or_else(|| LayerCache::new(layer, model.config().hidden_size, fingerprint));
        let started = Instant::now();
        let added = cache.extend(model, pad_id, sequences, device);
        if added > 0 || !cache.matches_file(&path) {
            tracing::info!(added, seconds = started.elapsed().as_secs_f64(), path = %path.display(), "layer cache extended");
            cache.save(&path)?;
        }
        Ok(cache)
    }

    /// Writes the cache back into `dir` if texts were added since it was loaded (evaluation
    /// adds them), under the directory's lock, keeping what other runs added to the file since.
    pub fn store(mut self, dir: &Path) -> Result<(), TrainError> {
        if !self.is_dirty() {
            return Ok(());
        }
        let path = cache_path(dir, &self.fingerprint, self.layer);
        let _lock = polyret_files::DirLock::acquire(dir)?;
        if !self.matches_file(&path)
            && let Some(theirs) = LayerCache::load(&path, self.layer, &self.fingerprint)?
        {
            self.absorb(theirs);
        }
        self.save(&path)
    }

    /// An empty cache for the output of `layer` layers of the model with `fingerprint`.
    pub fn new(layer: usize, dim: usize, fingerprint: &str) -> Self {
        Self { layer, dim, fingerprint: fingerprint.to_string(), ..Default::default() }
    }

    /// Layers the cached states have gone through.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Distinct sequences cached.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `ids` is cached.
    pub fn contains(&self, ids: &[u32]) -> bool {
        self.index.contains_key(ids)
    }

    /// Computes and adds the states of every sequence in `sequences` not yet cached, running
    /// `model` (inference copy) on `device` in length-sorted batches.
    pub fn extend<'a>(
        &mut self,
        model: &BertModel,
        pad_id: u32,
        sequences: impl IntoIterator<Item = &'a [u32]>,
        device: &Device,
    ) -> usize {
        let mut missing: Vec<Vec<u32>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for seq in sequences {
            if !self.index.contains_key(seq) && seen.insert(seq) {
                missing.push(seq.to_vec());
            }
        }
        if missing.is_empty() {
            return 0;
        }
        let tokens: usize = missing.iter().map(Vec::len).sum();
        let bar = ProgressBar::new(tokens as u64).with_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} tokens ({per_sec}, eta {eta})").expect("template"),
        );
        bar.set_message(format!("caching layer {} states", self.layer));
        let limits = BatchLimits { max_sequences: 64, max_tokens: 4096 };
        for rows in length_sorted_batches(&missing, limits) {
            let seqs: Vec<&[u32]> = rows.iter().map(|&i| missing[i].as_slice()).collect();
            let batch = pad_batch(&seqs, pad_id);
            let input = ModelInput::new(&batch, model.config(), device);
            let hidden = model.embed(model.word_embeddings(&input), &input, Mode::Eval);
            let hidden = model.encode_layers(hidden, &input, 0..self.layer, Mode::Eval);
            // Packed rows: each sequence's tokens are contiguous, in order.
            let values = hidden.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 states");
            let mut start = 0;
            for seq in &seqs {
                let offset = self.states.len();
                self.states.extend_from_slice(&values[start..start + seq.len() * self.dim]);
                self.index.insert(seq.to_vec(), (offset, seq.len()));
                start += seq.len() * self.dim;
            }
            bar.inc(seqs.iter().map(|s| s.len() as u64).sum());
        }
        bar.finish_and_clear();
        self.dirty = true;
        missing.len()
    }

    /// Packed states `[Σ lengths, dim]` of a batch's sequences, in order, row-major (the
    /// layout [`polyret_encoder::ModelInput`] computes in). Panics if a sequence is not cached
    /// (callers [`Self::extend`] first).
    pub fn packed_states(&self, sequences: &[&[u32]]) -> Vec<f32> {
        let mut out = Vec::with_capacity(sequences.iter().map(|s| s.len()).sum::<usize>() * self.dim);
        for seq in sequences {
            let (offset, len) = self.index[*seq];
            out.extend_from_slice(&self.states[offset..offset + len * self.dim]);
        }
        out
    }

    /// Whether entries were added since it was loaded or saved.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Adds the entries of `other` (same model and layer) that this cache lacks.
    pub fn absorb(&mut self, other: LayerCache) {
        assert!(other.layer == self.layer && other.dim == self.dim && other.fingerprint == self.fingerprint);
        for (ids, (offset, len)) in other.index {
            if !self.index.contains_key(&ids) {
                let at = self.states.len();
                self.states.extend_from_slice(&other.states[offset..offset + len * self.dim]);
                self.index.insert(ids, (at, len));
                self.dirty = true;
            }
        }
    }

    /// Whether the file at `path` is the one this cache last loaded or saved (false when
    /// another run has rewritten it since, or it is gone).
    pub fn matches_file(&self, path: &Path) -> bool {
        self.file_digest.is_some() && trailing_digest(path) == self.file_digest
    }

    /// Writes the cache atomically, with its checksum. Callers sharing the file hold the lock
    /// on its directory.
    pub fn save(&mut self, path: &Path) -> Result<(), TrainError> {
        let mut file = polyret_files::AtomicFile::create(path)?;
        let mut w = HashingWriter::new(file.writer());
        let write = |w: &mut HashingWriter<&mut BufWriter<File>>| -> std::io::Result<()> {
            w.write_all(MAGIC)?;
            let fp = self.fingerprint.as_bytes();
            for v in [self.layer as u64, self.dim as u64, fp.len() as u64, self.index.len() as u64] {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(fp)?;
            let mut entries: Vec<(&Vec<u32>, &(usize, usize))> = self.index.iter().collect();
            entries.sort_by_key(|(_, (offset, _))| *offset);
            for (ids, &(offset, len)) in entries {
                w.write_all(&(len as u32).to_le_bytes())?;
                for id in ids {
                    w.write_all(&id.to_le_bytes())?;
                }
                for v in &self.states[offset..offset + len * self.dim] {
                    w.write_all(&v.to_le_bytes())?;
                }
            }
            Ok(())
        };
        write(&mut w).map_err(|e| TrainError::io(path, e))?;
        let digest: [u8; DIGEST] = w.finalize();
        file.writer().write_all(&digest).map_err(|e| TrainError::io(path, e))?;
        file.commit()?;
        self.file_digest = Some(digest);
        self.dirty = false;
        Ok(())
    }

    /// Loads a cache written by [`Self::save`]; `None` if there is none, if it is for another
    /// model or layer, or if it is damaged or altered (a warning says which; the caller rebuilds
    /// it).
    pub fn load(path: &Path, layer: usize, fingerprint: &str) -> Result<Option<Self>, TrainError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(TrainError::io(path, e)),
        };
        let mut r = HashingReader { inner: BufReader::new(file), hasher: Sha256::new() };
        match Self::read(&mut r, layer, fingerprint) {
            Ok(None) => Ok(None),
            Ok(Some(mut cache)) => {
                let mut stored = [0u8; DIGEST];
                let computed: [u8; DIGEST] = r.hasher.finalize().into();
                let intact = r.inner.read_exact(&mut stored).is_ok()
                    && stored == computed
                    && r.inner.read(&mut [0u8; 1]).is_ok_and(|n| n == 0);
                if !intact {
                    tracing::warn!(path = %path.display(), "layer cache does not match its checksum (damaged or altered); rebuilding it");
                    return Ok(None);
                }
                cache.file_digest = Some(computed);
                Ok(Some(cache))
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData) => {
                tracing::warn!(path = %path.display(), "layer cache is damaged or of an older format ({e}); rebuilding it");
                Ok(None)
            }
            Err(e) => Err(TrainError::io(path, e)),
        }
    }

    /// Parses the content before the checksum; `None` for another model or layer.
    fn read(r: &mut impl Read, layer: usize, fingerprint: &str) -> std::io::Result<Option<Self>> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let mut read = |n: usize| -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; n];
            r.read_exact(&mut buf)?;
            Ok(buf)
        };
        if read(4)? != MAGIC {
            return Err(bad("bad magic"));
        }
        let mut header = [0u64; 4];
        for h in &mut header {
            *h = u64::from_le_bytes(read(8)?.try_into().expect("8 bytes"));
        }
        let [file_layer, dim, fp_len, count] = header.map(|v| v as usize);
        if fp_len > 4096 || dim == 0 || dim > 1 << 16 {
            return Err(bad("implausible header"));
        }
        let file_fp = String::from_utf8(read(fp_len)?).map_err(|_| bad("fingerprint is not UTF-8"))?;
        if file_layer != layer || file_fp != fingerprint {
            return Ok(None);
        }
        let mut cache = Self::new(layer, dim, fingerprint);
        for _ in 0..count {
            let len = u32::from_le_bytes(read(4)?.try_into().expect("4 bytes")) as usize;
            if len > 1 << 16 {
                return Err(bad("implausible sequence length"));
            }
            let ids: Vec<u32> =
                read(len * 4)?.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
            let offset = cache.states.len();
            cache.states.extend(
                read(len * dim * 4)?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            );
            cache.index.insert(ids, (offset, len));
        }
        Ok(Some(cache))
    }
}

/// The checksum at the end of a cache file, if it has one.
fn trailing_digest(path: &Path) -> Option<[u8; DIGEST]> {
    let mut file = File::open(path).ok()?;
    file.seek(std::io::SeekFrom::End(-(DIGEST as i64))).ok()?;
    let mut digest = [0u8; DIGEST];
    file.read_exact(&mut digest).ok()?;
    Some(digest)
}

/// Hashes what is read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(seqs: &[&[u32]]) -> LayerCache {
        let mut cache = LayerCache::new(2, 3, "model-fp");
        for seq in seqs {
            let offset = cache.states.len();
            cache.states.extend((0..seq.len() * 3).map(|i| (seq[0] * 100) as f32 + i as f32));
            cache.index.insert(seq.to_vec(), (offset, seq.len()));
        }
        cache
    }

    /// A file changed in place at the same size is rebuilt, not used (it ends with a checksum
    /// of its content).
    #[test]
    fn an_altered_cache_is_rebuilt_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp-layer2.bin");
        let mut original = cache(&[&[1, 2], &[3]]);
        original.save(&path).unwrap();
        let loaded = LayerCache::load(&path, 2, "model-fp").unwrap().expect("intact");
        assert_eq!(loaded.packed_states(&[&[3], &[1, 2]]), original.packed_states(&[&[3], &[1, 2]]));
        assert!(LayerCache::load(&path, 1, "model-fp").unwrap().is_none(), "another layer");

        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - DIGEST - 4;
        bytes[at..at + 4].copy_from_slice(&7.5f32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        assert!(LayerCache::load(&path, 2, "model-fp").unwrap().is_none(), "altered states were used");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(LayerCache::load(&path, 2, "model-fp").unwrap().is_none(), "truncated");
        std::fs::write(&path, b"PLC1 an older format").unwrap();
        assert!(LayerCache::load(&path, 2, "model-fp").unwrap().is_none());
    }

    /// Two runs that each extended the cache: the second to save keeps the first's entries.
    #[test]
    fn absorbing_another_runs_file_keeps_both_runs_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp-layer2.bin");
        let mut first = cache(&[&[1], &[2]]);
        first.save(&path).unwrap();
        let mut second = LayerCache::load(&path, 2, "model-fp").unwrap().unwrap();
        assert!(second.matches_file(&path));
        first.absorb(cache(&[&[3]]));
        first.save(&path).unwrap();
        second.absorb(cache(&[&[4, 4]]));
        assert!(!second.matches_file(&path), "the first run rewrote it");
        second.absorb(LayerCache::load(&path, 2, "model-fp").unwrap().unwrap());
        second.save(&path).unwrap();
        let merged = LayerCache::load(&path, 2, "model-fp").unwrap().unwrap();
        assert_eq!(merged.len(), 4);
        assert_eq!(merged.packed_states(&[&[3], &[4, 4]]), cache(&[&[3], &[4, 4]]).packed_states(&[&[3], &[4, 4]]));
    }
}

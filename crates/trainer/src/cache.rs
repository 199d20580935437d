//! Frozen-layer cache: the output of the bottom `layer` transformer layers for each distinct
//! token sequence, computed once (no dropout: frozen layers run in eval mode) and reused by
//! every training step and every evaluation of every run that freezes the same layers of the
//! same model. Training then costs only the top layers.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use polyret_encoder::{BatchLimits, BertModel, Mode, ModelInput, length_sorted_batches, pad_batch};

use crate::TrainError;

const MAGIC: &[u8; 4] = b"PLC1";

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
}

impl LayerCache {
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

    /// Writes the cache atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let tmp = polyret_encoder::tmp_path(path);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
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
            w.into_inner()?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            TrainError::io(path, e)
        })
    }

    /// Loads a cache written by [`Self::save`]; `None` if it is for another model or layer.
    pub fn load(path: &Path, layer: usize, fingerprint: &str) -> Result<Option<Self>, TrainError> {
        if !path.exists() {
            return Ok(None);
        }
        let bad = |m: &str| TrainError::Data(format!("{}: malformed layer cache: {m}", path.display()));
        let mut r = BufReader::new(std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?);
        let mut read = |n: usize| -> Result<Vec<u8>, TrainError> {
            let mut buf = vec![0u8; n];
            r.read_exact(&mut buf).map_err(|e| TrainError::io(path, e))?;
            Ok(buf)
        };
        if read(4)? != MAGIC {
            return Err(bad("bad magic"));
        }
        let mut header = [0u64; 4];
        for h in &mut header {
            *h = u64::from_le_bytes(read(8)?.try_into().unwrap());
        }
        let [file_layer, dim, fp_len, count] = header.map(|v| v as usize);
        let file_fp = String::from_utf8(read(fp_len)?).map_err(|_| bad("fingerprint is not UTF-8"))?;
        if file_layer != layer || file_fp != fingerprint {
            return Ok(None);
        }
        let mut cache = Self::new(layer, dim, fingerprint);
        for _ in 0..count {
            let len = u32::from_le_bytes(read(4)?.try_into().unwrap()) as usize;
            let ids: Vec<u32> =
                read(len * 4)?.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
            let offset = cache.states.len();
            cache
                .states
                .extend(read(len * dim * 4)?.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())));
            cache.index.insert(ids, (offset, len));
        }
        Ok(Some(cache))
    }
}

//! Checkpoints: everything a run needs to continue bit for bit — weights, optimizer moments
//! (dense and sparse), sampler position and the step — written to a staging directory that
//! replaces `checkpoint/` only once complete, so a kill at any moment leaves the last good one
//! ([`polyret_files::replace_dir`]; the next start settles what a kill interrupted with
//! [`polyret_files::recover_dir`]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use polyret_encoder::{NamedTensor, read_safetensors, write_safetensors};
use polyret_files::{replace_dir, stage_dir, write_atomic};
use polyret_sampler::SamplerState;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::optim::SparseEmbedding;
use crate::step::Trainee;

/// Name of the word-embedding tensor in HF checkpoints.
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// The small part of a checkpoint (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps completed.
    pub step: u64,
    /// Dense AdamW updates applied.
    pub adam_steps: u64,
    /// Sparse-table updates applied.
    pub sparse_steps: u64,
    /// Where the sampler stands.
    pub sampler: SamplerState,
    /// Digest of the resolved config: a checkpoint only resumes the run that wrote it.
    pub config_digest: String,
    /// Progress of the invocation that wrote it, for the run's summary when a resume has no
    /// step left (a kill between the last checkpoint and the final save). Absent in
    /// checkpoints of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<InvocationStats>,
}

/// What one invocation of a run did: the figures of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationStats {
    /// Steps run.
    pub steps: u64,
    /// Loss of the last step.
    pub last_loss: f64,
    /// Mean loss over the first and the last 10% of its steps.
    pub loss_start_end: (f64, f64),
    /// Pairs per second of training (start-up excluded).
    pub pairs_per_second: f64,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
}

impl InvocationStats {
    /// The figures of `losses` (one per step), `pairs` pairs and `seconds` of steps.
    pub fn new(losses: &[f64], pairs: usize, seconds: f64) -> Self {
        let tenth = (losses.len() / 10).max(1);
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        Self {
            steps: losses.len() as u64,
            last_loss: losses.last().copied().unwrap_or(f64::NAN),
            loss_start_end: (
                mean(&losses[..tenth.min(losses.len())]),
                mean(&losses[losses.len().saturating_sub(tenth)..]),
            ),
            pairs_per_second: pairs as f64 / seconds.max(1e-9),
            train_seconds: seconds,
        }
    }
}

/// Everything loaded back from a checkpoint.
pub struct Restored {
    /// `state.json`.
    pub state: CheckpointState,
    /// Model weights in HF names (the sparse table included).
    pub weights: BTreeMap<String, NamedTensor>,
    /// Dense moments by module path (`<path>.m`, `<path>.v`).
    pub moments: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    /// Sparse-table moments, when the run trains the table.
    pub sparse_moments: Option<(Vec<f32>, Vec<f32>)>,
}

/// Model weights in HF names with the trainee's sparse table folded back in.
pub fn model_weights(trainee: &Trainee) -> BTreeMap<String, NamedTensor> {
    let mut weights = trainee.model().valid().to_weights();
    if let Some(table) = &trainee.words {
        weights.insert(WORD_EMBEDDINGS.into(), NamedTensor::new(vec![table.rows, table.dim], table.weight.clone()));
    }
    weights
}

/// Writes `dir` (e.g. `RUN/checkpoint`) atomically.
pub fn save(dir: &Path, trainee: &Trainee, state: &CheckpointState) -> Result<(), TrainError> {
    let staging = stage_dir(dir)?;
    write_safetensors(&staging.join("model.safetensors"), &model_weights(trainee))?;
    let mut optimizer: BTreeMap<String, NamedTensor> =
        trainee.adam.export().into_iter().map(|(name, (shape, data))| (name, NamedTensor::new(shape, data))).collect();
    if let Some(table) = &trainee.words {
        let (m, v) = table.moments();
        optimizer.insert("sparse.m".into(), NamedTensor::new(vec![table.rows, table.dim], m.to_vec()));
        optimizer.insert("sparse.v".into(), NamedTensor::new(vec![table.rows, table.dim], v.to_vec()));
    }
    write_safetensors(&staging.join("optimizer.safetensors"), &optimizer)?;
    let json = serde_json::to_vec_pretty(state).expect("state serialises");
    write_atomic(&staging.join("state.json"), &json)?;
    replace_dir(&staging, dir)?;
    Ok(())
}

/// Reads `state.json` of a checkpoint written by [`save`], checking that it belongs to the run
/// with `config_digest` and stands within its `steps`.
pub fn read_state(dir: &Path, config_digest: &str, steps: u64) -> Result<CheckpointState, TrainError> {
    let bad = |message: String| TrainError::Checkpoint { path: dir.to_owned(), message };
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| bad(format!("no readable state.json ({e}); nothing to resume")))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| bad(format!("state.json: {e}")))?;
    if state.config_digest != config_digest {
        return Err(bad("written by a run with a different config; resume with the run's own config.toml".into()));
    }
    if state.step > steps {
        return Err(bad(format!(
            "state.json is at step {} but the run has training.steps = {steps}; it is not this run's checkpoint",
            state.step
        )));
    }
    Ok(state)
}

/// Reads a checkpoint written by [`save`] (see [`read_state`] for the checks).
pub fn load(dir: &Path, config_digest: &str, steps: u64) -> Result<Restored, TrainError> {
    let state = read_state(dir, config_digest, steps)?;
    let weights = read_safetensors(&dir.join("model.safetensors"))?;
    let mut optimizer = read_safetensors(&dir.join("optimizer.safetensors"))?;
    let sparse_moments = match (optimizer.remove("sparse.m"), optimizer.remove("sparse.v")) {
        (Some(m), Some(v)) => Some((m.data, v.data)),
        _ => None,
    };
    let moments = optimizer.into_iter().map(|(k, t)| (k, (t.shape, t.data))).collect();
    Ok(Restored { state, weights, moments, sparse_moments })
}

/// Restores a sparse table's moments from a checkpoint.
pub fn restore_sparse(table: &mut SparseEmbedding, restored: &mut Restored) {
    if let Some((m, v)) = restored.sparse_moments.take() {
        table.restore_moments(m, v, restored.state.sparse_steps);
    }
}

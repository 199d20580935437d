//! A run directory: `config.toml`, `metrics.jsonl`, `batches.jsonl`, `checkpoint/` and `model/`
//! (the program around the trainer adds its own files, e.g. a summary and evaluations).

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polyret_files::{DirLock, write_atomic};

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::error::TrainError;

/// A run directory held by this process: its lock is taken by [`RunDir::claim`] and released
/// when the value is dropped, so a second process cannot train in it meanwhile.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: DirLock,
}

impl RunDir {
    /// Whether `path` holds a run: a checkpoint (possibly mid-replacement after a kill) or a
    /// finished run's `summary.json`. A resume continues such a run; a fresh start is refused
    /// there.
    pub fn holds_run(path: &Path) -> bool {
        let ckpt = polyret_files::settled_dir(&checkpoint_dir(path));
        ckpt.is_some_and(|d| d.join("state.json").is_file()) || path.join("summary.json").is_file()
    }

    /// The checkpoint a start in `path` continues from (`resume`), after checking, without
    /// changing anything, that the start makes sense: a fresh start needs a directory without a
    /// run, a resume needs a checkpoint of `config` within its steps (only `state.json` is
    /// read here).
    pub fn checkpoint_to_resume(
        path: &Path,
        config: &TrainConfig,
        resume: bool,
    ) -> Result<Option<PathBuf>, TrainError> {
        let ckpt_dir = checkpoint_dir(path);
        if !resume {
            if Self::holds_run(path) {
                return Err(TrainError::Checkpoint {
                    path: ckpt_dir,
                    message: "a run already exists here: pass --resume to continue it, or choose another --out".into(),
                });
            }
            return Ok(None);
        }
        let Some(dir) = polyret_files::settled_dir(&ckpt_dir).filter(|d| d.join("state.json").is_file()) else {
            return Err(TrainError::Checkpoint {
                path: ckpt_dir,
                message: "no checkpoint to resume from (none written yet, or removed after the run finished)".into(),
            });
        };
        checkpoint::read_state(&dir, &config.digest(), config.training.steps)?;
        Ok(Some(dir))
    }

    /// Creates `path` if needed and takes its lock, settles what a kill left half-replaced
    /// (`checkpoint/`, `model/`) and, for a `fresh` start, writes `config.toml`. Call it once
    /// every check has passed: from here on the directory changes.
    pub fn claim(path: &Path, config: &TrainConfig, fresh: bool) -> Result<Self, TrainError> {
        let lock = DirLock::try_acquire(path)?.ok_or_else(|| TrainError::RunDir {
            path: path.to_owned(),
            message: "another process is training in this directory".into(),
        })?;
        polyret_files::recover_dir(&checkpoint_dir(path))?;
        polyret_files::recover_dir(&path.join("model"))?;
        if fresh {
            write_atomic(&path.join("config.toml"), config.to_toml().as_bytes())?;
        }
        Ok(Self { path: path.to_owned(), _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `checkpoint/`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        checkpoint_dir(&self.path)
    }

    /// `model/`, the final model.
    pub fn model_dir(&self) -> PathBuf {
        self.path.join("model")
    }
}

fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Opens a JSON-lines log (`metrics.jsonl`, `batches.jsonl`) for appending, first dropping the
/// lines of steps after `keep_until` (a resumed run repeats the steps after its checkpoint).
pub(crate) fn open_log(path: &Path, keep_until: u64) -> Result<BufWriter<std::fs::File>, TrainError> {
    let kept: Vec<String> = match std::fs::read_to_string(path) {
        Ok(text) if keep_until > 0 => text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s <= keep_until)
            })
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    write_atomic(path, body.as_bytes())?;
    let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| TrainError::io(path, e))?;
    Ok(BufWriter::new(file))
}

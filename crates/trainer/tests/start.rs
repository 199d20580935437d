//! What a start, a refused start and a resume do to a run directory: nothing changes until every
//! check has passed, a finished run is left alone, a kill's leftovers are settled. Uses the tiny
//! BERT fixture and synthetic data (see `common`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::config;
use trainer::{RunOptions, RunSummary, TrainConfig, TrainError};

fn options(config: &Path, overrides: &[&str], out: &Path, resume: bool, stop_after: Option<u64>) -> RunOptions {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunOptions { config: TrainConfig::load(config, &overrides).unwrap(), run_dir: out.to_owned(), resume, stop_after }
}

fn train(
    config: &Path,
    overrides: &[&str],
    out: &Path,
    resume: bool,
    stop_after: Option<u64>,
) -> anyhow::Result<RunSummary> {
    trainer::train(&options(config, overrides, out, resume, stop_after))
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Case 2: the checkpoint was made with other settings. Before, `config.toml` was overwritten
/// before the comparison, and from then on a plain `--resume` failed too.
#[test]
fn a_refused_resume_with_other_settings_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    train(&config, &[], &out, false, Some(2)).unwrap();
    let before = snapshot(&out);
    let err = train(&config, &["optimizer.lr=5e-4"], &out, true, None).unwrap_err().to_string();
    assert!(err.contains("different config"), "{err}");
    assert!(snapshot(&out) == before, "the refused resume changed the run directory");
    // The run's own config still resumes it.
    let own = TrainConfig::load(&out.join("config.toml"), &[]).unwrap();
    let options = RunOptions { config: own, run_dir: out.clone(), resume: true, stop_after: None };
    assert_eq!(trainer::train(&options).unwrap().steps, 4);
}

/// Case 3: resuming a finished run used to write a new summary with `last_loss: null` and
/// `pairs_per_second: 0`; now it says so and changes nothing.
#[test]
fn resuming_a_finished_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    let first = train(&config, &[], &out, false, None).unwrap();
    assert!(!first.already_finished);
    let before = snapshot(&out);
    let again = train(&config, &[], &out, true, None).unwrap();
    assert!(again.already_finished);
    assert_eq!((again.steps, again.last_loss), (4, first.last_loss));
    // Read back from summary.json: equal up to the last digit of its decimal form.
    assert!((again.pairs_per_second - first.pairs_per_second).abs() <= 1e-9 * first.pairs_per_second);
    assert!(snapshot(&out) == before, "resuming a finished run changed it");
    // With another config it is an error, and still nothing changes.
    let err = train(&config, &["seed=99"], &out, true, None).unwrap_err().to_string();
    assert!(err.contains("another config"), "{err}");
    assert!(snapshot(&out) == before);
}

/// Case 3: killed after the last checkpoint, before the model was saved: the resume saves the
/// same model and writes the summary the killed invocation would have written.
#[test]
fn a_resume_after_a_kill_before_the_final_save_finishes_the_save() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    train(&config, &[], &out, false, None).unwrap();
    let weights = std::fs::read(out.join("model/model.safetensors")).unwrap();
    let summary = json(&out.join("summary.json"));
    // What a kill between `checkpoint::save` at the last step and `save_model_dir` leaves.
    std::fs::remove_dir_all(out.join("model")).unwrap();
    std::fs::remove_file(out.join("summary.json")).unwrap();
    let resumed = train(&config, &[], &out, true, None).unwrap();
    assert!(!resumed.already_finished);
    assert_eq!(std::fs::read(out.join("model/model.safetensors")).unwrap(), weights);
    let after = json(&out.join("summary.json"));
    for key in ["steps", "last_loss", "loss_first_tenth", "loss_last_tenth", "pairs_per_second", "train_seconds"] {
        assert_eq!(after[key], summary[key], "{key}");
    }
    assert!(after["last_loss"].as_f64().unwrap().is_finite() && after["pairs_per_second"].as_f64().unwrap() > 0.0);
}

/// Case 5: a start refused after the model loaded (before, `config.toml` was already written),
/// and a resume of a directory that has no checkpoint (before, the directory was created).
#[test]
fn failed_starts_leave_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    let err = train(&config, &["loss.hard_negatives=true"], &out, false, None).unwrap_err().to_string();
    assert!(err.contains("hard_negatives"), "{err}");
    assert!(!out.exists(), "a refused start created {}", out.display());
    let err = train(&config, &[], &out, true, None).unwrap_err().to_string();
    assert!(err.contains("no checkpoint to resume"), "{err}");
    assert!(!out.exists());
}

/// Case 5: `checkpoint.tmp/` and `checkpoint.old/` after kills inside a checkpoint write are
/// settled on the next start, which resumes from the newest complete checkpoint.
#[test]
fn a_kill_inside_a_checkpoint_write_is_settled_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 6, 2);
    let straight = dir.path().join("straight");
    train(&config, &[], &straight, false, None).unwrap();
    let expected = std::fs::read(straight.join("model/model.safetensors")).unwrap();

    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    };
    // Killed after the old checkpoint was set aside and before the complete new one was moved
    // into place: only `checkpoint.old/` and `checkpoint.tmp/` exist.
    let out = dir.path().join("between-renames");
    train(&config, &[], &out, false, Some(4)).unwrap();
    copy(&out.join("checkpoint"), &out.join("checkpoint.tmp"));
    std::fs::rename(out.join("checkpoint"), out.join("checkpoint.old")).unwrap();
    train(&config, &[], &out, true, None).unwrap();
    assert_eq!(std::fs::read(out.join("model/model.safetensors")).unwrap(), expected);
    assert!(!out.join("checkpoint.tmp").exists() && !out.join("checkpoint.old").exists());

    // Killed while writing the staging copy: a partial `checkpoint.tmp/` (and a `model.tmp/`
    // from a kill while saving the model) next to the last good checkpoint.
    let out = dir.path().join("partial-staging");
    train(&config, &[], &out, false, Some(4)).unwrap();
    for partial in ["checkpoint.tmp", "model.tmp"] {
        std::fs::create_dir_all(out.join(partial)).unwrap();
        std::fs::write(out.join(partial).join("model.safetensors"), b"cut short").unwrap();
    }
    train(&config, &[], &out, true, None).unwrap();
    assert_eq!(std::fs::read(out.join("model/model.safetensors")).unwrap(), expected);
    for debris in ["checkpoint.tmp", "checkpoint.old", "model.tmp", "model.old"] {
        assert!(!out.join(debris).exists(), "{debris} left");
    }
}

/// Case 6: a `state.json` that claims more steps than the run has (before, the step-2 weights
/// were saved as the final model of a 4-step run).
#[test]
fn a_checkpoint_beyond_the_runs_steps_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    train(&config, &[], &out, false, Some(2)).unwrap();
    let state_path = out.join("checkpoint/state.json");
    let mut state = json(&state_path);
    state["step"] = 99.into();
    std::fs::write(&state_path, state.to_string()).unwrap();
    let before = snapshot(&out);
    let err = train(&config, &[], &out, true, None).unwrap_err().to_string();
    assert!(err.contains("step 99") && err.contains("training.steps = 4"), "{err}");
    assert!(snapshot(&out) == before && !out.join("model").exists());
}

/// Case 7: freezing every layer trains nothing; before, the first step panicked ("Tensor::backward
/// requires a tracked autodiff tensor").
#[test]
fn freezing_every_layer_is_refused_before_the_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 4, 2);
    let out = dir.path().join("run");
    for layers in ["2", "5"] {
        let err = train(&config, &[&format!("training.freeze_layers={layers}")], &out, false, None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err.downcast_ref::<TrainError>(), Some(TrainError::Config { .. })), "{message}");
        assert!(
            message.contains(&format!("training.freeze_layers = {layers}"))
                && message.contains("2 layers")
                && message.contains("at most 1"),
            "{message}"
        );
        assert!(!out.exists());
    }
    train(&config, &["training.freeze_layers=1"], &out, false, Some(1)).unwrap();
}

/// Case 9: a non-finite loss before any checkpoint names none (before, the message named a
/// "last good checkpoint" that did not exist), and steps count as in `metrics.jsonl`.
#[test]
fn a_divergence_before_any_checkpoint_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 50, 0);
    let out = dir.path().join("diverged");
    let err = train(&config, &["optimizer.lr=1e30", "optimizer.max_grad_norm=0.0"], &out, false, None).unwrap_err();
    let message = err.to_string();
    let Ok(TrainError::NonFinite { step, checkpoint: None, checkpoint_step: None, .. }) = err.downcast::<TrainError>()
    else {
        panic!("{message}")
    };
    assert!(message.contains("No checkpoint was written yet") && !message.contains("last good"), "{message}");
    assert!(!out.join("checkpoint").exists());
    let logged = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let last_logged =
        logged.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["step"].as_u64()).max();
    assert_eq!(last_logged, Some(step - 1), "the failing step is the one after the last logged step");
}

/// Case 9: a table the user ingested is a valid `data.sources` entry (before, it was sent to
/// `fetch-data`, which knows only bundled benchmarks, and refused).
#[test]
fn a_user_ingested_table_is_a_valid_source() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path(), 2, 0);
    let data = dir.path().join("data");
    let rows = polyret_ingest::read_pairs(&dir.path().join("pairs.parquet")).unwrap();
    let table = polyret_ingest::Table {
        name: "my-pairs".into(),
        data: polyret_ingest::TableData::Pairs(rows),
        notes: Vec::new(),
    };
    let mut catalog = polyret_ingest::Catalog::load_or_new(&data.join("parquet/catalog.json")).unwrap();
    catalog.publish(&polyret_ingest::Ingested { tables: vec![table], xquad_split: None }, &[], None).unwrap();
    let dir_override = format!("data.dir={:?}", data.display().to_string());
    let out = dir.path().join("run");
    train(&config_path, &["data.sources=[\"my-pairs\"]", &dir_override], &out, false, None).unwrap();
    let err = train(&config_path, &["data.sources=[\"nope\"]", &dir_override], &dir.path().join("other"), false, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`nope` is neither in") && err.contains("xquad-pairs"), "{err}");
}

/// A second process training in the same directory is refused while the first holds it.
#[test]
fn a_run_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 2, 0);
    let out = dir.path().join("run");
    let held = polyret_files::DirLock::acquire(&out).unwrap();
    let err = train(&config, &[], &out, false, None).unwrap_err().to_string();
    assert!(err.contains("another process is training"), "{err}");
    drop(held);
    train(&config, &[], &out, false, None).unwrap();
}

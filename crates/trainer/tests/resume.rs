//! Exact resume: a run interrupted (in-process stop, or SIGKILL of the process) and resumed from
//! its last checkpoint ends with weights bit-identical to an uninterrupted run with the same seed.
//! Uses the tiny BERT fixture, a word-level tokenizer written here and synthetic parallel data.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::config;
use trainer::{RunOptions, TrainConfig};

fn weights(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("model/model.safetensors")).unwrap()
}

fn run(config: &Path, out: &Path, resume: bool, stop_after: Option<u64>) {
    let options =
        RunOptions { config: TrainConfig::load(config, &[]).unwrap(), run_dir: out.to_owned(), resume, stop_after };
    trainer::train(&options).unwrap();
}

#[test]
fn stopped_and_resumed_run_matches_uninterrupted_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 8, 3);
    let straight = dir.path().join("straight");
    run(&config, &straight, false, None);

    let interrupted = dir.path().join("interrupted");
    run(&config, &interrupted, false, Some(5)); // checkpoints at 3 and at the stop (5)
    assert!(!interrupted.join("model").exists(), "a stopped run must not write its final model");
    run(&config, &interrupted, true, None);
    assert_eq!(weights(&straight), weights(&interrupted));

    // The metrics log has each step once.
    let metrics = std::fs::read_to_string(interrupted.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("loss").is_some())
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=8).collect::<Vec<_>>());

    // A different seed gives different weights: the comparison above can fail.
    let other = dir.path().join("other");
    let options = RunOptions {
        config: TrainConfig::load(&config, &["seed=12".into()]).unwrap(),
        run_dir: other.clone(),
        resume: false,
        stop_after: None,
    };
    trainer::train(&options).unwrap();
    assert_ne!(weights(&straight), weights(&other));
}

#[test]
fn sigkilled_run_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let steps = 400;
    let config = config(dir.path(), steps, 20);
    let straight = dir.path().join("straight");
    run(&config, &straight, false, None);

    let killed = dir.path().join("killed");
    let exe = env!("CARGO_BIN_EXE_trainer");
    let mut child = Command::new(exe)
        .args(["--config", config.to_str().unwrap(), "--out", killed.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let state = killed.join("checkpoint/state.json");
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&state) {
            let step = serde_json::from_str::<serde_json::Value>(&text).unwrap()["step"].as_u64().unwrap();
            if step >= 20 {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the run finished before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(120), "no checkpoint after 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("model").exists(), "killed before the end");
    let status = Command::new(exe)
        .args(["--config", config.to_str().unwrap(), "--out", killed.to_str().unwrap(), "--resume"])
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(weights(&straight), weights(&killed));
}

#[test]
fn non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 50, 1);
    let out = dir.path().join("diverged");
    // An absurd learning rate drives the weights to infinity within a few steps.
    let options = RunOptions {
        config: TrainConfig::load(&config, &["optimizer.lr=1e30".into(), "optimizer.max_grad_norm=0.0".into()])
            .unwrap(),
        run_dir: out.clone(),
        resume: false,
        stop_after: None,
    };
    let err = trainer::train(&options).unwrap_err();
    let message = err.to_string();
    let err = err.downcast::<trainer::TrainError>().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(matches!(err, trainer::TrainError::NonFinite { .. }), "{message}");
    assert!(message.contains("step") && message.contains("checkpoint"), "{message}");
    // The checkpoint holds finite weights from before the failing step, and no final model exists.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap()).unwrap();
    let (failed_at, checkpoint_step) = match err {
        trainer::TrainError::NonFinite { step, checkpoint_step, .. } => (step, checkpoint_step),
        _ => unreachable!(),
    };
    // Steps count from 1 as in metrics.jsonl: the checkpoint holds the step before the failing one.
    assert_eq!(Some(state["step"].as_u64().unwrap()), checkpoint_step);
    assert_eq!(checkpoint_step, Some(failed_at - 1));
    assert!(message.contains(&format!("(step {})", failed_at - 1)), "{message}");
    let weights = polyret_encoder::read_safetensors(&out.join("checkpoint/model.safetensors")).unwrap();
    assert!(weights.values().all(|t| t.data.iter().all(|v| v.is_finite())));
    assert!(!out.join("model").exists());
}

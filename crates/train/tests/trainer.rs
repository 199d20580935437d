//! The library without the program around it: a `Trainer` over rows read by hand (no catalog,
//! no download), driven by its own loop, ends where `fit` ends, and a checkpoint taken in such a
//! loop continues it exactly. Uses the trainer's tiny BERT fixture and synthetic data.

#[path = "../../trainer/tests/common/mod.rs"]
mod common;

use std::path::Path;

use polyret_encoder::SentenceEncoder;
use polyret_train::{PairSet, RunDir, Start, Tokenizers, TrainConfig, TrainData, Trainer};

fn setup(dir: &Path, steps: u64) -> (TrainConfig, SentenceEncoder, impl Fn() -> TrainData) {
    let config = TrainConfig::load(&common::config(dir, steps, 0), &[]).unwrap();
    let base = SentenceEncoder::load(dir.join("tiny-bert"), &config.model.backend.device()).unwrap();
    let tokenizers = Tokenizers::new(&base, &config.model).unwrap();
    let rows = polyret_ingest::read_pairs(&dir.join("pairs.parquet")).unwrap();
    let data = move || {
        let (train, held_out): (Vec<_>, Vec<_>) = rows.iter().cloned().partition(|r| r.split == "train");
        TrainData {
            train: PairSet::from_rows(train, &tokenizers).unwrap(),
            validation: Some(PairSet::from_rows(held_out, &tokenizers).unwrap()),
        }
    };
    (config, base, data)
}

fn weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.safetensors")).unwrap()
}

#[test]
fn an_own_loop_over_own_rows_matches_fit_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base, data) = setup(dir.path(), 6);

    let mut fitted = Trainer::new(config.clone(), &base, data(), Start::default()).unwrap();
    let run = RunDir::claim(&dir.path().join("run"), &config, true).unwrap();
    let fit = fitted.fit(&run, None).unwrap();
    assert_eq!((fit.steps, fit.stats.steps), (6, 6));
    let fitted_model = fit.model_dir.unwrap();
    assert!(std::fs::read_to_string(run.path().join("metrics.jsonl")).unwrap().contains("val_loss"));

    let mut own = Trainer::new(config.clone(), &base, data(), Start::default()).unwrap();
    let mut losses = Vec::new();
    for expected in 1..=3 {
        let report = own.step();
        assert_eq!(report.step, expected);
        assert_eq!(report.batch.pairs.len(), config.sampler.batch_size);
        assert!(report.stats.loss.is_finite() && report.stats.grad_norm.is_finite());
        losses.push(report.stats.loss);
    }
    assert!(own.validation_loss().is_some_and(f64::is_finite));
    let checkpoint = dir.path().join("own-checkpoint");
    own.save_checkpoint(&checkpoint).unwrap();
    for _ in 4..=6 {
        own.step();
    }
    own.save_model(&dir.path().join("own")).unwrap();
    assert_eq!(weights(&dir.path().join("own")), weights(&fitted_model), "a loop of steps is what fit runs");

    let start = Start { checkpoint: Some(checkpoint), ..Start::default() };
    let mut resumed = Trainer::new(config.clone(), &base, data(), start).unwrap();
    assert_eq!(resumed.steps_done(), 3);
    while resumed.steps_done() < 6 {
        resumed.step();
    }
    resumed.save_model(&dir.path().join("resumed")).unwrap();
    assert_eq!(weights(&dir.path().join("resumed")), weights(&fitted_model));

    // A checkpoint belongs to its config.
    let other = TrainConfig { seed: 12, ..config };
    let start = Start { checkpoint: Some(dir.path().join("own-checkpoint")), ..Start::default() };
    let err = Trainer::new(other, &base, data(), start).err().expect("another config").to_string();
    assert!(err.contains("different config"), "{err}");
}

//! GradCache gives the gradients of the full batch: one step with the batch embedded in chunks
//! of 2 ends at the same weights (up to float summation order) as one step embedding it whole.
//! (Without dropout: the chunked and the whole-batch passes draw different masks by design.)

mod common;

use polyret_encoder::read_safetensors;
use trainer::{RunOptions, TrainConfig};

fn one_step(
    config: &std::path::Path,
    out: &std::path::Path,
    chunk: usize,
) -> std::collections::BTreeMap<String, polyret_encoder::NamedTensor> {
    let overrides = vec![
        format!("training.chunk_size={chunk}"),
        "optimizer.warmup_ratio=0.0".into(),
        "training.dropout=false".into(),
    ];
    let options = RunOptions {
        config: TrainConfig::load(config, &overrides).unwrap(),
        run_dir: out.to_owned(),
        resume: false,
        stop_after: None,
    };
    trainer::train(&options).unwrap();
    read_safetensors(&out.join("model/model.safetensors")).unwrap()
}

#[test]
fn grad_cache_step_equals_full_batch_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path(), 1, 0);
    let full = one_step(&config, &dir.path().join("full"), 0);
    let chunked = one_step(&config, &dir.path().join("chunked"), 2);
    let initial = read_safetensors(&common::tiny_model(dir.path()).join("model.safetensors")).unwrap();
    let mut moved = 0.0f32;
    for (name, t) in &full {
        let diff = t.data.iter().zip(&chunked[name].data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-5, "{name}: GradCache differs by {diff}");
        if let Some(init) = initial.get(name) {
            moved = moved.max(t.data.iter().zip(&init.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max));
        }
    }
    // The step did change the weights (lr 1e-3), so equality above is not trivial.
    assert!(moved > 1e-4, "weights moved only {moved}");
}

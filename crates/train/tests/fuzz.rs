//! Fuzz target of the TOML config: a valid config with fields set to values of every TOML type
//! and edge (negative, zero, huge, NaN, inf, wrong type, unknown keys), or broken TOML, must load
//! or give an error naming the file, never panic; a config that loads must be usable (sampler
//! config, learning-rate schedule, TOML round trip). 256 cases by default; run longer by hand
//! with e.g. `PROPTEST_CASES=20000 cargo test --release -p polyret-train --test fuzz`.

use polyret_train::TrainConfig;
use proptest::prelude::*;

const VALID: &str = r#"
seed = 7
[model]
[data]
sources = ["xquad-pairs"]
[sampler]
strategy = "hybrid"
alpha = 0.5
batch_size = 8
[training]
steps = 10
"#;

/// Every field of the config, and a few that do not exist.
const KEYS: [&str; 44] = [
    "seed",
    "model.name",
    "model.models_dir",
    "model.backend",
    "model.max_query_tokens",
    "model.max_passage_tokens",
    "data.dir",
    "data.mirror",
    "data.sources",
    "data.split",
    "data.languages",
    "data.validation_pairs",
    "data.validation_split",
    "sampler.strategy",
    "sampler.alpha",
    "sampler.alpha_end",
    "sampler.batch_size",
    "sampler.language_weighting",
    "sampler.source_per_batch",
    "sampler.small_languages",
    "loss.scale",
    "loss.symmetric",
    "loss.hard_negatives",
    "optimizer.lr",
    "optimizer.weight_decay",
    "optimizer.beta1",
    "optimizer.beta2",
    "optimizer.eps",
    "optimizer.warmup_ratio",
    "optimizer.decay",
    "optimizer.max_grad_norm",
    "optimizer.no_decay",
    "training.steps",
    "training.chunk_size",
    "training.freeze_layers",
    "training.checkpoint_every",
    "training.log_every",
    "training.cache_frozen",
    "eval.benchmarks",
    "eval.validate_every",
    "eval.languages",
    "eval.baseline",
    "nope",
    "training.nope.deeper",
];

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "0", "1", "-1", "2", "1e30", "-1e-3", "0.5", "1.0", "nan", "inf", "-inf", "18446744073709551615",
            "9223372036854775807", "-9223372036854775808", "true", "\"\"", "\"hybrid\"", "\"x-y\"", "\"en-en\"",
            "\"linear\"", "\"cosine\"", "\"exclude\"", "\"proportional\"", "\"ndarray\"", "\"train\"", "\"test\"",
            "[]", "[\"en\", \"de\"]", "[\"xx\"]", "[1, 2]", "{temperature = -1.0}", "{temperature = 0.5}", "{}",
            "[[1]]", "1979-05-27",
        ])
        .prop_map(String::from),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => "\\PC{0,8}".prop_map(|s| format!("{s:?}")),
    ]
}

proptest! {
    #[test]
    fn config_loader_never_panics(
        overrides in prop::collection::vec((prop::sample::select(KEYS.to_vec()), toml_value()), 0..6),
        junk in prop::option::weighted(0.15, "\\PC{0,24}"),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.toml");
        let text = match &junk {
            Some(j) => format!("{VALID}\n{j}\n"),
            None => VALID.to_string(),
        };
        std::fs::write(&path, text).unwrap();
        let overrides: Vec<String> = overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match TrainConfig::load(&path, &overrides) {
            Ok(config) => {
                prop_assert!(config.validate().is_ok());
                prop_assert!(config.sampler_config().is_ok());
                let again: TrainConfig = toml::from_str(&config.to_toml()).unwrap();
                prop_assert_eq!(again.to_toml(), config.to_toml());
                for step in [0, config.training.steps / 2, config.training.steps - 1] {
                    let lr = polyret_train::learning_rate(&config.optimizer, step, config.training.steps);
                    prop_assert!(lr.is_finite() && lr >= 0.0, "lr {} at step {}", lr, step);
                }
            }
            Err(e) => prop_assert!(e.to_string().contains("fuzz.toml"), "{}", e),
        }
    }
}

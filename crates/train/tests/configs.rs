//! Every shipped config in `configs/` parses and validates, and resolves to the same TOML as
//! ever: a run's checkpoints are found by a digest of that TOML ([`TrainConfig::digest`]), so a
//! change in how a config serialises would orphan every running study.

use sha2::{Digest, Sha256};

use polyret_train::TrainConfig;

fn configs() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_shipped_config_is_valid() {
    let paths = configs();
    for path in &paths {
        TrainConfig::load(path, &[]).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(paths.len() >= 8, "only {} configs found", paths.len());
}

/// The overrides the study, the benchmarks and the docs use, on every config.
const OVERRIDES: &[&[&str]] = &[
    &[],
    &["sampler.strategy=\"x-y\""],
    &["sampler.strategy=\"x-x\""],
    &["sampler.strategy=\"x-x-mono\""],
    &["sampler.strategy=\"hybrid\"", "sampler.alpha=0.25"],
    &["sampler.strategy=\"hybrid\""],
    &["sampler.strategy=\"en-en\""],
    &["sampler.alpha=0.5"],
    &["seed=3", "sampler.strategy=\"x-x\"", "eval.baseline=true"],
    &["eval.benchmarks=[\"xquad-r\", \"tatoeba:de,fr\"]"],
    &["training.freeze_layers=0", "training.cache_frozen=false", "model.backend=\"flex\""],
    &["training.checkpoint_every=50", "training.steps=600"],
    &[
        "sampler.alpha_end=0.1",
        "sampler.language_weighting={temperature=0.5}",
        "sampler.small_languages=\"exclude\"",
        "sampler.source_per_batch=true",
    ],
];

/// `config_digests.txt` holds, per config and override set, the SHA-256 of the resolved TOML
/// (or the error), as the trainer wrote them before its config embedded the sampler's options.
/// If a config in `configs/` changed on purpose, rewrite the file with
/// `POLYRET_BLESS=1 cargo test --release -p polyret-train --test configs`.
#[test]
fn resolved_configs_keep_their_toml() {
    let mut listing = String::new();
    for path in configs() {
        for set in OVERRIDES {
            let overrides: Vec<String> = set.iter().map(|s| s.to_string()).collect();
            let outcome = match TrainConfig::load(&path, &overrides) {
                Ok(config) => hex::encode(Sha256::digest(config.to_toml().as_bytes())),
                Err(e) => {
                    let message = e.to_string();
                    format!("error: {}", message.rsplit_once(": ").map_or(message.as_str(), |(_, m)| m))
                }
            };
            let name = path.file_name().unwrap().to_string_lossy();
            listing.push_str(&format!("{name} {} {outcome}\n", set.join(" ")));
        }
    }
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_digests.txt");
    if std::env::var_os("POLYRET_BLESS").is_some() {
        std::fs::write(&golden, &listing).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    for (got, want) in listing.lines().zip(expected.lines()) {
        assert_eq!(got, want, "the resolved TOML changed: checkpoints of such runs would no longer resume");
    }
    assert_eq!(listing.lines().count(), expected.lines().count());
}

/// The bytes of one resolved config, so a failure above can be read against them.
#[test]
fn the_main_config_resolves_to_these_bytes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/main.toml");
    let toml = TrainConfig::load(&path, &["sampler.strategy=\"x-y\"".into()]).unwrap().to_toml();
    let sampler = toml.split("[sampler]\n").nth(1).unwrap().split("\n\n").next().unwrap();
    assert_eq!(
        sampler,
        "strategy = \"x-y\"\nalpha = 0.5\nbatch_size = 32\nlanguage_weighting = \"uniform\"\nsource_per_batch = false\n\
         small_languages = \"error\""
    );
}

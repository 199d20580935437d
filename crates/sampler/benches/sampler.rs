//! Sampling speed: batches per second for 120k pairs (10k parallel groups × 12 languages),
//! batch size 128, for each strategy; plus building the index and sampler from 120k rows, which
//! the trainer pays once at start-up.
//!
//! `cargo bench -p polyret-sampler --bench sampler`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use polyret_sampler::{AlphaSchedule, GroupIndex, LanguageWeighting, Sampler, SamplerConfig, Strategy};

const GROUPS: usize = 10_000;
const LANGS: [&str; 12] = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"];
const BATCH: usize = 128;

/// One row per (group, language), as a parallel pairs table has them.
fn rows() -> Vec<(String, &'static str)> {
    (0..GROUPS).flat_map(|g| LANGS.iter().map(move |&l| (format!("q{g}"), l))).collect()
}

fn index_of(rows: &[(String, &'static str)]) -> GroupIndex {
    GroupIndex::from_rows(rows.iter().map(|(g, l)| (g.as_str(), *l, *l, "xquad"))).expect("valid rows")
}

fn strategies() -> [Strategy; 5] {
    [
        Strategy::EnEn,
        Strategy::XX,
        Strategy::XXMono,
        Strategy::XY,
        Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) },
    ]
}

fn next_batch(c: &mut Criterion) {
    let index = Arc::new(index_of(&rows()));
    let mut group = c.benchmark_group("next_batch_120k_pairs_b128");
    group.throughput(Throughput::Elements(1));
    for strategy in strategies() {
        let name = strategy.name();
        let mut config = SamplerConfig::new(strategy, BATCH, 7);
        config.language_weighting = LanguageWeighting::Temperature(0.5);
        let mut sampler = Sampler::new(Arc::clone(&index), config).expect("valid config");
        group.bench_function(name, |b| b.iter(|| black_box(sampler.next_batch())));
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group("build_120k_rows");
    group.sample_size(20);
    group.bench_function("index_from_rows", |b| b.iter(|| black_box(index_of(&rows))));
    let index = Arc::new(index_of(&rows));
    let config = SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, BATCH, 7);
    group.bench_function("sampler_new_hybrid", |b| {
        b.iter_batched(
            || (Arc::clone(&index), config.clone()),
            |(index, config)| black_box(Sampler::new(index, config).expect("valid config")),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, next_batch, build);
criterion_main!(benches);

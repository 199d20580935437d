//! Property tests of the sampler's guarantees over random indexes and configurations.
//!
//! Structural properties (batch shape, no repeated group, languages, determinism, resume,
//! per-pass coverage) run on random inputs with proptest's random seed: a correct sampler never
//! fails them. Statistical properties (hybrid's mono share, language frequencies) compare counts
//! with their binomial expectation; they run with a fixed proptest seed, so a run is
//! reproducible, and the tolerances are stated where they are checked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use polyret_sampler::{
    AlphaSchedule, Batch, BatchKind, GroupIdx, GroupIndex, LangId, LanguageWeighting, Sampler, SamplerConfig,
    SmallLanguagePolicy, Strategy,
};
use proptest::prelude::*;
// proptest's `Strategy` (a value generator) would clash with the sampling strategy.
use proptest::strategy::Strategy as Gen;
use proptest::test_runner::RngSeed;

const CODES: [&str; 5] = ["en", "de", "ar", "zh", "sw"];

/// A random index: parallel groups over some of the languages, plus plain pairs.
#[derive(Clone, Debug)]
struct Spec {
    langs: usize,
    batch_size: usize,
    /// (source, language mask) of parallel groups; the mask is over the first `langs` codes.
    parallel: Vec<(usize, u32)>,
    /// (source, query language, passage language) of single-pair groups.
    pairs: Vec<(usize, usize, usize)>,
}

impl Spec {
    fn index(&self) -> GroupIndex {
        let mut b = GroupIndex::builder();
        // Enough full groups in source 0 that every language can fill a batch there.
        let full = (1u32 << self.langs) - 1;
        let groups = std::iter::repeat_n((0, full), self.batch_size).chain(self.parallel.iter().copied());
        for (i, (source, mask)) in groups.enumerate() {
            let langs: Vec<&str> = (0..self.langs).filter(|l| mask & (1 << l) != 0).map(|l| CODES[l]).collect();
            b.add_group(&format!("p{i}"), &format!("s{source}"), &langs, &langs).unwrap();
        }
        for (i, &(source, q, p)) in self.pairs.iter().enumerate() {
            b.add_group(&format!("j{i}"), &format!("s{source}"), &[CODES[q]], &[CODES[p]]).unwrap();
        }
        b.build().unwrap()
    }
}

fn spec() -> impl Gen<Value = Spec> {
    (2usize..=5, 1usize..=3, 1usize..=6).prop_flat_map(|(langs, sources, batch_size)| {
        let parallel = prop::collection::vec((0..sources, 1u32..(1 << langs)), 0..40);
        let pairs = prop::collection::vec((0..sources, 0..langs, 0..langs), 0..30);
        (parallel, pairs).prop_map(move |(parallel, pairs)| Spec { langs, batch_size, parallel, pairs })
    })
}

fn strategy() -> impl Gen<Value = Strategy> {
    prop_oneof![
        Just(Strategy::EnEn),
        Just(Strategy::XX),
        Just(Strategy::XXMono),
        Just(Strategy::XY),
        (0.0f64..=1.0).prop_map(|a| Strategy::Hybrid { alpha: AlphaSchedule::Constant(a) }),
        (0.0f64..=1.0, 0.0f64..=1.0, 1u64..200).prop_map(|(start, end, batches)| {
            Strategy::Hybrid { alpha: AlphaSchedule::Linear { start, end, batches } }
        }),
    ]
}

fn weighting() -> impl Gen<Value = LanguageWeighting> {
    prop_oneof![
        Just(LanguageWeighting::Uniform),
        Just(LanguageWeighting::Proportional),
        (0.0f64..2.0).prop_map(LanguageWeighting::Temperature),
    ]
}

/// A config for `spec` (small languages excluded: random indexes have them) and its sampler.
fn config(spec: &Spec, strategy: Strategy, weighting: LanguageWeighting, per_source: bool, seed: u64) -> SamplerConfig {
    let mut config = SamplerConfig::new(strategy, spec.batch_size, seed);
    config.language_weighting = weighting;
    config.source_per_batch = per_source;
    config.small_languages = SmallLanguagePolicy::Exclude;
    config
}

fn config_strategy() -> impl Gen<Value = (Spec, SamplerConfig)> {
    (spec(), strategy(), weighting(), any::<bool>(), any::<u64>()).prop_map(|(spec, s, w, per_source, seed)| {
        let config = config(&spec, s, w, per_source, seed);
        (spec, config)
    })
}

/// Which stream dealt a pair: kind (mono streams serve mono and mixed batches), source when
/// sources are drawn per batch, and query language.
fn stream_key(
    index: &GroupIndex,
    config: &SamplerConfig,
    kind: BatchKind,
    group: GroupIdx,
    lang: LangId,
) -> (bool, Option<String>, LangId) {
    let source = config.source_per_batch.then(|| index.group_source(group).to_owned());
    (kind == BatchKind::Cross, source, lang)
}

/// Groups a stream holds, computed from the index directly (not through the sampler).
fn stream_size(index: &GroupIndex, key: &(bool, Option<String>, LangId)) -> usize {
    let (cross, source, lang) = key;
    (0..index.len() as u32)
        .map(GroupIdx)
        .filter(|&g| source.as_deref().is_none_or(|s| index.group_source(g) == s))
        .filter(|&g| {
            let (q, p) = (index.query_langs(g), index.passage_langs(g));
            q.contains(lang) && if *cross { p.iter().any(|x| x != lang) } else { p.contains(lang) }
        })
        .count()
}

fn check_batch(
    index: &GroupIndex,
    config: &SamplerConfig,
    sampler: &Sampler,
    batch: &Batch,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(batch.pairs.len(), config.batch_size);
    let groups: HashSet<GroupIdx> = batch.pairs.iter().map(|p| p.group).collect();
    prop_assert_eq!(groups.len(), batch.pairs.len(), "a group repeats in batch {}", batch.index);
    for pair in &batch.pairs {
        prop_assert!(index.query_langs(pair.group).contains(&pair.query_lang));
        prop_assert!(index.passage_langs(pair.group).contains(&pair.passage_lang));
        match batch.kind {
            BatchKind::Mono | BatchKind::Mixed => {
                prop_assert_eq!(pair.query_lang, pair.passage_lang)
            }
            BatchKind::Cross => prop_assert_ne!(pair.query_lang, pair.passage_lang),
        }
        for excluded in sampler.excluded() {
            let same_kind = (excluded.kind == polyret_sampler::StreamKind::Cross) == (batch.kind == BatchKind::Cross);
            let same_source = excluded.source.as_deref().is_none_or(|s| s == index.group_source(pair.group));
            prop_assert!(
                !(same_kind && same_source && index.lang_code(pair.query_lang) == excluded.language),
                "excluded {excluded} was drawn"
            );
        }
    }
    let first = batch.pairs[0];
    if batch.kind == BatchKind::Mono {
        prop_assert!(batch.pairs.iter().all(|p| p.query_lang == first.query_lang), "mono batch mixes languages");
    }
    if config.source_per_batch {
        let source = index.group_source(first.group);
        prop_assert!(batch.pairs.iter().all(|p| index.group_source(p.group) == source));
    }
    let expected_kinds: &[BatchKind] = match config.strategy {
        Strategy::EnEn | Strategy::XXMono => &[BatchKind::Mono],
        Strategy::XX => &[BatchKind::Mixed],
        Strategy::XY => &[BatchKind::Cross],
        Strategy::Hybrid { .. } => &[BatchKind::Mono, BatchKind::Cross],
    };
    prop_assert!(expected_kinds.contains(&batch.kind));
    if config.strategy == Strategy::EnEn {
        prop_assert!(batch.pairs.iter().all(|p| index.lang_code(p.query_lang) == "en"));
    }
    prop_assert_eq!(batch.epoch, batch.index / sampler.batches_per_epoch());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Right size, no repeated group, languages of the right kind and from the group, one
    /// language per mono batch, one source per batch when asked, excluded languages never used.
    #[test]
    fn batches_are_well_formed((spec, config) in config_strategy()) {
        let index = Arc::new(spec.index());
        let mut sampler = Sampler::new(Arc::clone(&index), config.clone())?;
        for _ in 0..150 {
            let batch = sampler.next_batch();
            check_batch(&index, &config, &sampler, &batch)?;
        }
    }

    /// Each stream deals its groups once per pass: after `t` deals from a stream of `n`
    /// groups, every group was dealt ⌊t/n⌋ or ⌈t/n⌉ times, ±2 for groups held back at a pass
    /// boundary (they move by at most a batch). Sampling with replacement breaks this bound.
    #[test]
    fn streams_deal_every_group_once_per_pass((spec, config) in config_strategy()) {
        let index = Arc::new(spec.index());
        let mut sampler = Sampler::new(Arc::clone(&index), config.clone())?;
        let mut dealt: HashMap<(bool, Option<String>, LangId), HashMap<GroupIdx, u64>> = HashMap::new();
        for batch in sampler.by_ref().take(400) {
            for pair in &batch.pairs {
                let key = stream_key(&index, &config, batch.kind, pair.group, pair.query_lang);
                *dealt.entry(key).or_default().entry(pair.group).or_default() += 1;
            }
        }
        for (key, counts) in dealt {
            let n = stream_size(&index, &key) as u64;
            let t: u64 = counts.values().sum();
            let low = (t / n).saturating_sub(2);
            let high = t.div_ceil(n) + 2;
            // Groups never dealt count as 0.
            if (counts.len() as u64) < n {
                prop_assert!(low == 0, "stream {key:?}: {} of {n} groups never dealt in {t} deals", n - counts.len() as u64);
            }
            for (g, c) in counts {
                prop_assert!((low..=high).contains(&c), "stream {key:?}: group {g:?} dealt {c} times in {t} deals of {n}");
            }
        }
    }

    /// Same index, config and seed → the same batches (the index rebuilt from scratch).
    #[test]
    fn same_seed_same_batches((spec, config) in config_strategy()) {
        let a = Sampler::new(Arc::new(spec.index()), config.clone())?;
        let b = Sampler::new(Arc::new(spec.index()), config)?;
        prop_assert!(a.take(120).eq(b.take(120)));
    }

    /// Saving the state after `k` batches (through JSON) and resuming gives exactly the
    /// batches the uninterrupted sampler produces.
    #[test]
    fn resume_mid_run_continues_identically((spec, config) in config_strategy(), k in 0usize..200) {
        let index = Arc::new(spec.index());
        let mut run = Sampler::new(Arc::clone(&index), config.clone())?;
        run.by_ref().take(k).for_each(drop);
        let json = serde_json::to_string(&run.state()).unwrap();
        let mut resumed = Sampler::resume(Arc::clone(&index), config, serde_json::from_str(&json).unwrap())?;
        prop_assert_eq!(resumed.position(), k as u64);
        for _ in 0..80 {
            prop_assert_eq!(resumed.next_batch(), run.next_batch());
        }
    }
}

/// Fixed seed for the statistical properties: reproducible runs, no flaky failures.
fn statistical(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5a3c_0f11),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A full-parallel index: `groups` groups in every one of `langs` languages.
fn parallel(groups: usize, langs: usize) -> Arc<GroupIndex> {
    let mut b = GroupIndex::builder();
    for g in 0..groups {
        b.add_group(&format!("g{g}"), "s", &CODES[..langs], &CODES[..langs]).unwrap();
    }
    Arc::new(b.build().unwrap())
}

/// Languages with 60, 30 and 12 groups: group `i` has `en`, `de` if `i < 30`, `ar` if `i < 12`.
fn unequal() -> Arc<GroupIndex> {
    let mut b = GroupIndex::builder();
    for i in 0..60 {
        let langs: Vec<&str> =
            [("en", true), ("de", i < 30), ("ar", i < 12)].iter().filter(|l| l.1).map(|l| l.0).collect();
        b.add_group(&format!("g{i}"), "s", &langs, &langs).unwrap();
    }
    Arc::new(b.build().unwrap())
}

fn within_sigmas(count: f64, trials: f64, p: f64, sigmas: f64) -> bool {
    (count - trials * p).abs() <= sigmas * (trials * p * (1.0 - p)).sqrt()
}

proptest! {
    #![proptest_config(statistical(24))]

    /// Hybrid's number of mono batches is within 3σ of Σ α(i) (variance Σ α(i)(1 − α(i))),
    /// for constant and linear schedules. With a fixed seed this is reproducible; per case a
    /// correct sampler leaves the band with probability 0.27 %.
    #[test]
    fn hybrid_mono_share_within_3_sigma(
        alpha in prop_oneof![
            (0.05f64..=0.95).prop_map(AlphaSchedule::Constant),
            (0.0f64..=1.0, 0.0f64..=1.0, 1u64..3000).prop_map(|(start, end, batches)| AlphaSchedule::Linear { start, end, batches }),
        ],
        seed in any::<u64>(),
    ) {
        let n = 2000u64;
        let sampler = Sampler::new(parallel(16, 4), SamplerConfig::new(Strategy::Hybrid { alpha }, 8, seed))?;
        let mono = sampler.take(n as usize).filter(|b| b.kind == BatchKind::Mono).count() as f64;
        let mean: f64 = (0..n).map(|i| alpha.at(i)).sum();
        let var: f64 = (0..n).map(|i| alpha.at(i) * (1.0 - alpha.at(i))).sum();
        prop_assume!(var > 0.0);
        prop_assert!((mono - mean).abs() <= 3.0 * var.sqrt(), "{mono} mono batches, expected {mean} ± {}", 3.0 * var.sqrt());
    }

    /// Language frequencies follow the weighting over the stream sizes: per mono batch
    /// (X-X-mono), per pair (X-X) and per cross pair's query language (X-Y), on languages with
    /// 60/30/12 groups. Each count is binomial; tolerance 4.5σ (false alarm 7·10⁻⁶ per check).
    #[test]
    fn language_frequencies_follow_the_weighting(
        weighting in prop_oneof![
            Just(LanguageWeighting::Uniform),
            Just(LanguageWeighting::Proportional),
            (0.0f64..1.5).prop_map(LanguageWeighting::Temperature),
        ],
        strategy in prop_oneof![Just(Strategy::XXMono), Just(Strategy::XX), Just(Strategy::XY)],
        seed in any::<u64>(),
    ) {
        let index = unequal();
        let mut config = SamplerConfig::new(strategy.clone(), 4, seed);
        config.language_weighting = weighting;
        let sampler = Sampler::new(Arc::clone(&index), config)?;
        let langs: Vec<LangId> = ["en", "de", "ar"].iter().map(|c| index.lang_id(c).unwrap()).collect();
        // Stream sizes from the data: mono streams 60/30/12; cross streams (a query language
        // with another passage language) 30/30/12, since groups 30.. have English only.
        let sizes: [f64; 3] = if strategy == Strategy::XY { [30.0, 30.0, 12.0] } else { [60.0, 30.0, 12.0] };
        let weights = sizes.map(|n| match weighting {
            LanguageWeighting::Uniform => 1.0,
            LanguageWeighting::Proportional => n,
            LanguageWeighting::Temperature(tau) => n.powf(tau),
        });
        let total: f64 = weights.iter().sum();
        let mut counts = [0f64; 3];
        let mut trials = 0f64;
        for batch in sampler.take(3000) {
            let draws: Vec<LangId> = if strategy == Strategy::XXMono {
                vec![batch.pairs[0].query_lang]
            } else {
                batch.pairs.iter().map(|p| p.query_lang).collect()
            };
            for lang in draws {
                counts[langs.iter().position(|&l| l == lang).unwrap()] += 1.0;
                trials += 1.0;
            }
        }
        for i in 0..3 {
            let p = weights[i] / total;
            prop_assert!(within_sigmas(counts[i], trials, p, 4.5), "{}: {} of {trials}, expected p = {p}", CODES[i], counts[i]);
        }
    }
}

/// In X-Y with uniform weighting on full-parallel data, the passage language is uniform over
/// the other languages, for every query language: each of the 12 (query, passage) cells holds
/// a third of its query language's pairs, within 4.5σ.
#[test]
fn cross_passage_language_is_uniform_over_the_other_languages() {
    let index = parallel(40, 4);
    let sampler = Sampler::new(Arc::clone(&index), SamplerConfig::new(Strategy::XY, 16, 11)).unwrap();
    let mut cells = [[0f64; 4]; 4];
    for batch in sampler.take(2000) {
        for p in batch.pairs {
            cells[p.query_lang.index()][p.passage_lang.index()] += 1.0;
        }
    }
    for (q, row) in cells.iter().enumerate() {
        let n: f64 = row.iter().sum();
        assert_eq!(row[q], 0.0);
        for (p, &c) in row.iter().enumerate().filter(|&(p, _)| p != q) {
            assert!(within_sigmas(c, n, 1.0 / 3.0, 4.5), "{q}→{p}: {c} of {n}");
        }
    }
}

/// With one source per batch, sources are drawn in proportion to their items: here 40 groups
/// × 3 languages against 10 × 3, so 4/5 of the batches come from the first (within 4.5σ).
#[test]
fn sources_are_drawn_in_proportion_to_their_size() {
    let mut b = GroupIndex::builder();
    for (source, groups) in [("big", 40), ("small", 10)] {
        for g in 0..groups {
            b.add_group(&format!("g{g}"), source, &CODES[..3], &CODES[..3]).unwrap();
        }
    }
    let index = Arc::new(b.build().unwrap());
    let mut config = SamplerConfig::new(Strategy::XXMono, 8, 5);
    config.source_per_batch = true;
    let sampler = Sampler::new(Arc::clone(&index), config).unwrap();
    let big = sampler.take(3000).filter(|b| index.group_source(b.pairs[0].group) == "big").count() as f64;
    assert!(within_sigmas(big, 3000.0, 0.8, 4.5), "{big} of 3000 batches from the big source");
}

//! What to sample: strategy, batch size, language weighting, seed.

use serde::{Deserialize, Serialize};

use crate::error::SamplerError;
use crate::rng::Fnv;

/// How the pairs of a batch are composed. The names follow the hybrid-batch paper: X-X pairs are
/// monolingual (query and passage in the same language X), X-Y pairs cross-lingual.
///
/// Serialised in kebab-case: `"en-en"`, `"x-x"`, `"x-x-mono"`, `"x-y"`,
/// `{"hybrid": {"alpha": 0.5}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Strategy {
    /// English monolingual pairs only (the usual fine-tuning baseline).
    #[serde(rename = "en-en")]
    EnEn,
    /// Monolingual pairs, each pair's language drawn on its own, so a batch mixes languages.
    #[serde(rename = "x-x")]
    XX,
    /// Monolingual pairs all in one language per batch, the language drawn per batch: in-batch
    /// negatives share the query's language, so the model cannot rank by language.
    #[serde(rename = "x-x-mono")]
    XXMono,
    /// Cross-lingual pairs only: query language ≠ passage language for every pair.
    #[serde(rename = "x-y")]
    XY,
    /// Each batch is X-X-mono with probability α (evaluated at the batch index), else X-Y.
    #[serde(rename = "hybrid")]
    Hybrid {
        /// Probability of a monolingual batch, possibly changing over training.
        alpha: AlphaSchedule,
    },
}

impl Strategy {
    /// Kebab-case name, as in configs and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::EnEn => "en-en",
            Strategy::XX => "x-x",
            Strategy::XXMono => "x-x-mono",
            Strategy::XY => "x-y",
            Strategy::Hybrid { .. } => "hybrid",
        }
    }
}

/// Probability α of a monolingual batch in [`Strategy::Hybrid`], as a function of the batch index.
///
/// Serialised untagged: a number (`0.5`) is a constant, `{start, end, batches}` a ramp.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlphaSchedule {
    /// The same α for every batch (the paper).
    Constant(f64),
    /// α moves linearly from `start` (batch 0) to `end` (batch `batches`) and stays at `end`.
    Linear {
        /// α of batch 0.
        start: f64,
        /// α from batch `batches` on.
        end: f64,
        /// Length of the ramp in batches (≥ 1).
        batches: u64,
    },
}

impl AlphaSchedule {
    /// α for batch `index`.
    pub fn at(&self, index: u64) -> f64 {
        match *self {
            AlphaSchedule::Constant(alpha) => alpha,
            AlphaSchedule::Linear { start, end, batches } => {
                let t = index.min(batches) as f64 / batches as f64;
                start + (end - start) * t
            }
        }
    }

    /// Smallest and largest α the schedule takes: decides which batch kinds can occur.
    pub(crate) fn range(&self) -> (f64, f64) {
        match *self {
            AlphaSchedule::Constant(alpha) => (alpha, alpha),
            AlphaSchedule::Linear { start, end, .. } => (start.min(end), start.max(end)),
        }
    }

    fn validate(&self) -> Result<(), SamplerError> {
        let bad =
            |what: &str, value: f64| SamplerError::InvalidConfig(format!("{what} must be in [0, 1], got {value}"));
        match *self {
            AlphaSchedule::Constant(alpha) if !(0.0..=1.0).contains(&alpha) => Err(bad("alpha", alpha)),
            AlphaSchedule::Linear { start, .. } if !(0.0..=1.0).contains(&start) => Err(bad("alpha start", start)),
            AlphaSchedule::Linear { end, .. } if !(0.0..=1.0).contains(&end) => Err(bad("alpha end", end)),
            AlphaSchedule::Linear { batches: 0, .. } => {
                Err(SamplerError::InvalidConfig("alpha ramp length `batches` must be at least 1".into()))
            }
            _ => Ok(()),
        }
    }
}

/// How languages are drawn: the probability of language `L`, whose stream holds `n_L` groups
/// (see `docs/sampler.md`), among the languages available for the draw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LanguageWeighting {
    /// Every language equally likely (the paper): small languages are seen as often as large.
    #[default]
    Uniform,
    /// p ∝ n_L: every (group, language) item equally likely; large languages dominate.
    Proportional,
    /// p ∝ n_L^τ: τ = 0 is uniform, τ = 1 proportional, in between smooths (τ ≥ 0).
    Temperature(f64),
}

impl LanguageWeighting {
    /// Unnormalised weight of a language with `n` groups.
    pub(crate) fn weight(&self, n: usize) -> f64 {
        match *self {
            LanguageWeighting::Uniform => 1.0,
            LanguageWeighting::Proportional => n as f64,
            LanguageWeighting::Temperature(tau) => (n as f64).powf(tau),
        }
    }
}

/// What to do with a language that has fewer groups than the batch size (see
/// [`SamplerConfig::small_languages`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum SmallLanguagePolicy {
    /// Refuse to build the sampler, naming every such language with its group count.
    #[default]
    #[cfg_attr(feature = "clap", value(help = "Fail, listing the languages"))]
    Error,
    /// Leave such languages out of the draws that need them; [`crate::Sampler::excluded`]
    /// lists them so the caller can warn.
    #[cfg_attr(feature = "clap", value(help = "Leave them out (logged as warnings)"))]
    Exclude,
}

/// Everything that determines the batch sequence (together with the [`crate::GroupIndex`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Batch composition.
    pub strategy: Strategy,
    /// Pairs per batch (≥ 1); every batch has exactly this many.
    pub batch_size: usize,
    /// Language draw distribution; default uniform.
    #[serde(default)]
    pub language_weighting: LanguageWeighting,
    /// Draw one source per batch (sources in proportion to their number of items), so that
    /// in-batch negatives come from the same dataset; default off (sources mixed).
    #[serde(default)]
    pub source_per_batch: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Language code of [`Strategy::EnEn`]; default `"en"`.
    #[serde(default = "default_english")]
    pub english: String,
    /// Languages with fewer groups than `batch_size`: error (default) or exclude.
    #[serde(default)]
    pub small_languages: SmallLanguagePolicy,
}

pub(crate) fn default_english() -> String {
    "en".to_owned()
}

impl SamplerConfig {
    /// A config with the defaults: uniform weighting, sources mixed, English = `en`, small
    /// languages an error.
    pub fn new(strategy: Strategy, batch_size: usize, seed: u64) -> Self {
        Self {
            strategy,
            batch_size,
            language_weighting: LanguageWeighting::default(),
            source_per_batch: false,
            seed,
            english: default_english(),
            small_languages: SmallLanguagePolicy::default(),
        }
    }

    /// Checks the values that do not depend on the data.
    pub(crate) fn validate(&self) -> Result<(), SamplerError> {
        if self.batch_size == 0 {
            return Err(SamplerError::InvalidConfig("batch size must be at least 1".into()));
        }
        if let Strategy::Hybrid { alpha } = &self.strategy {
            alpha.validate()?;
        }
        if let LanguageWeighting::Temperature(tau) = self.language_weighting
            && !(tau.is_finite() && tau >= 0.0)
        {
            return Err(SamplerError::InvalidConfig(format!("temperature exponent must be finite and ≥ 0, got {tau}")));
        }
        if matches!(self.strategy, Strategy::EnEn) && self.english.is_empty() {
            return Err(SamplerError::InvalidConfig("the English language code is empty".into()));
        }
        Ok(())
    }

    /// Stable hash of every field, stored in sampler states.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        h.str(self.strategy.name());
        if let Strategy::Hybrid { alpha } = &self.strategy {
            match *alpha {
                AlphaSchedule::Constant(a) => h.u64(0).u64(a.to_bits()),
                AlphaSchedule::Linear { start, end, batches } => {
                    h.u64(1).u64(start.to_bits()).u64(end.to_bits()).u64(batches)
                }
            };
        }
        h.u64(self.batch_size as u64);
        match self.language_weighting {
            LanguageWeighting::Uniform => h.u64(0),
            LanguageWeighting::Proportional => h.u64(1),
            LanguageWeighting::Temperature(tau) => h.u64(2).u64(tau.to_bits()),
        };
        h.u64(u64::from(self.source_per_batch)).u64(self.seed).str(&self.english);
        h.u64(match self.small_languages {
            SmallLanguagePolicy::Error => 0,
            SmallLanguagePolicy::Exclude => 1,
        });
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms_are_the_documented_ones() {
        let hybrid: SamplerConfig =
            serde_json::from_str(r#"{"strategy": {"hybrid": {"alpha": 0.5}}, "batch_size": 32, "seed": 7}"#).unwrap();
        assert_eq!(hybrid, SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, 32, 7));
        let ramp: SamplerConfig = serde_json::from_str(
            r#"{"strategy": {"hybrid": {"alpha": {"start": 0.8, "end": 0.2, "batches": 100}}},
                "batch_size": 4, "seed": 1, "language_weighting": {"temperature": 0.3},
                "source_per_batch": true, "english": "eng", "small_languages": "exclude"}"#,
        )
        .unwrap();
        assert_eq!(
            ramp.strategy,
            Strategy::Hybrid { alpha: AlphaSchedule::Linear { start: 0.8, end: 0.2, batches: 100 } }
        );
        assert_eq!(ramp.language_weighting, LanguageWeighting::Temperature(0.3));
        assert_eq!(ramp.small_languages, SmallLanguagePolicy::Exclude);
        for (strategy, name) in [
            (Strategy::EnEn, "\"en-en\""),
            (Strategy::XX, "\"x-x\""),
            (Strategy::XXMono, "\"x-x-mono\""),
            (Strategy::XY, "\"x-y\""),
        ] {
            assert_eq!(serde_json::to_string(&strategy).unwrap(), name);
        }
        let round: SamplerConfig = serde_json::from_str(&serde_json::to_string(&ramp).unwrap()).unwrap();
        assert_eq!(round, ramp);
        assert!(
            serde_json::from_str::<SamplerConfig>(r#"{"strategy": "x-y", "batch_size": 4, "seed": 1, "sede": 2}"#)
                .is_err()
        );
    }

    #[test]
    fn linear_alpha_ramps_then_holds() {
        let ramp = AlphaSchedule::Linear { start: 1.0, end: 0.0, batches: 4 };
        let alphas: Vec<f64> = (0..6).map(|i| ramp.at(i)).collect();
        assert_eq!(alphas, [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
        assert_eq!(ramp.range(), (0.0, 1.0));
    }

    #[test]
    fn invalid_values_are_rejected_with_the_value() {
        let with = |strategy, weighting| {
            let mut config = SamplerConfig::new(strategy, 8, 0);
            config.language_weighting = weighting;
            config.validate()
        };
        let hybrid = |alpha| Strategy::Hybrid { alpha };
        let ramp = |start, end, batches| hybrid(AlphaSchedule::Linear { start, end, batches });
        let uniform = LanguageWeighting::Uniform;
        let invalid = [
            (hybrid(AlphaSchedule::Constant(1.5)), uniform, "1.5"),
            (hybrid(AlphaSchedule::Constant(f64::NAN)), uniform, "NaN"),
            (ramp(0.5, -0.1, 3), uniform, "-0.1"),
            (ramp(0.5, 0.1, 0), uniform, "at least 1"),
            (Strategy::XY, LanguageWeighting::Temperature(-1.0), "-1"),
            (Strategy::XY, LanguageWeighting::Temperature(f64::INFINITY), "inf"),
        ];
        for (strategy, weighting, shown) in invalid {
            let err = with(strategy.clone(), weighting).unwrap_err();
            assert!(err.to_string().contains(shown), "{strategy:?} {weighting:?}: {err}");
        }
        assert!(with(Strategy::XY, LanguageWeighting::Temperature(0.5)).is_ok());
        assert!(SamplerConfig::new(Strategy::XY, 0, 0).validate().is_err());
    }

    #[test]
    fn fingerprint_covers_every_field() {
        let base = SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, 8, 1);
        let mut variants = vec![base.clone()];
        let mut push = |f: &dyn Fn(&mut SamplerConfig)| {
            let mut c = base.clone();
            f(&mut c);
            variants.push(c);
        };
        push(&|c| c.strategy = Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.6) });
        push(&|c| c.strategy = Strategy::Hybrid { alpha: AlphaSchedule::Linear { start: 0.5, end: 0.5, batches: 1 } });
        push(&|c| c.strategy = Strategy::XY);
        push(&|c| c.batch_size = 9);
        push(&|c| c.language_weighting = LanguageWeighting::Proportional);
        push(&|c| c.language_weighting = LanguageWeighting::Temperature(0.5));
        push(&|c| c.source_per_batch = true);
        push(&|c| c.seed = 2);
        push(&|c| c.english = "eng".into());
        push(&|c| c.small_languages = SmallLanguagePolicy::Exclude);
        let mut prints: Vec<u64> = variants.iter().map(SamplerConfig::fingerprint).collect();
        prints.sort_unstable();
        prints.dedup();
        assert_eq!(prints.len(), variants.len());
    }
}

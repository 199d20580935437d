//! The sampler's options as people write them: a strategy name with its parameters beside it,
//! as in a config file's `[sampler]` section or on a command line. [`SamplerOptions::config`]
//! is the one place where they become a [`SamplerConfig`].

use serde::{Deserialize, Serialize};

use crate::config::{AlphaSchedule, LanguageWeighting, SamplerConfig, SmallLanguagePolicy, Strategy};
use crate::error::SamplerError;

/// A strategy by name, without its parameters (see [`Strategy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum StrategyKind {
    /// English monolingual pairs only.
    #[serde(rename = "en-en")]
    #[cfg_attr(feature = "clap", value(name = "en-en"))]
    EnEn,
    /// Monolingual pairs, languages mixed within a batch.
    #[serde(rename = "x-x")]
    #[cfg_attr(feature = "clap", value(name = "x-x"))]
    XX,
    /// Monolingual pairs, one language per batch.
    #[serde(rename = "x-x-mono")]
    #[cfg_attr(feature = "clap", value(name = "x-x-mono"))]
    XXMono,
    /// Cross-lingual pairs only.
    #[serde(rename = "x-y")]
    #[cfg_attr(feature = "clap", value(name = "x-y"))]
    XY,
    /// X-X-mono batches with probability α, X-Y batches otherwise.
    #[serde(rename = "hybrid")]
    #[cfg_attr(feature = "clap", value(name = "hybrid"))]
    Hybrid,
}

impl StrategyKind {
    /// Kebab-case name, as in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::EnEn => "en-en",
            StrategyKind::XX => "x-x",
            StrategyKind::XXMono => "x-x-mono",
            StrategyKind::XY => "x-y",
            StrategyKind::Hybrid => "hybrid",
        }
    }
}

impl Strategy {
    /// The strategy's name without its parameters.
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::EnEn => StrategyKind::EnEn,
            Strategy::XX => StrategyKind::XX,
            Strategy::XXMono => StrategyKind::XXMono,
            Strategy::XY => StrategyKind::XY,
            Strategy::Hybrid { .. } => StrategyKind::Hybrid,
        }
    }
}

/// Everything of a [`SamplerConfig`] but the seed, flat: `strategy = "hybrid"` with
/// `alpha = 0.5` beside it. In TOML:
///
/// ```toml
/// strategy = "hybrid"          # en-en, x-x, x-x-mono, x-y, hybrid
/// alpha = 0.5                  # hybrid: probability of an X-X-mono batch
/// alpha_end = 0.1              # optional: ramp α linearly from `alpha` to this
/// batch_size = 32
/// language_weighting = "uniform"   # or "proportional", or { temperature = 0.5 }
/// source_per_batch = false
/// small_languages = "error"        # or "exclude"
/// ```
///
/// `alpha` is kept whatever the strategy (and ignored unless it is hybrid), so that switching a
/// config's strategy and back loses nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerOptions {
    /// Batch composition.
    pub strategy: StrategyKind,
    /// Hybrid: probability of an X-X-mono batch (constant, or the start of a ramp). Range: 0
    /// to 1; the hybrid strategy needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Hybrid: ramp α linearly from `alpha` to `alpha_end` instead (over the batches given to
    /// [`SamplerOptions::config`]). Range: 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_end: Option<f64>,
    /// Pairs per batch.
    pub batch_size: usize,
    /// Language draw distribution.
    #[serde(default)]
    pub language_weighting: LanguageWeighting,
    /// Draw one source per batch, sources in proportion to size.
    #[serde(default)]
    pub source_per_batch: bool,
    /// Languages with fewer groups than the batch: `error` or `exclude`.
    #[serde(default)]
    pub small_languages: SmallLanguagePolicy,
    /// Language code of the en-en strategy; written only when it is not `en`.
    #[serde(default = "crate::config::default_english", skip_serializing_if = "is_english")]
    pub english: String,
}

fn is_english(code: &str) -> bool {
    code == crate::config::default_english()
}

impl SamplerOptions {
    /// Options with the defaults of [`SamplerConfig::new`] and no α.
    pub fn new(strategy: StrategyKind, batch_size: usize) -> Self {
        Self {
            strategy,
            alpha: None,
            alpha_end: None,
            batch_size,
            language_weighting: LanguageWeighting::default(),
            source_per_batch: false,
            small_languages: SmallLanguagePolicy::default(),
            english: crate::config::default_english(),
        }
    }

    /// The sampler configuration with `seed`; an α ramp (`alpha_end`) reaches its end after
    /// `ramp_batches` batches. Fails only when the hybrid strategy has no `alpha`; ranges are
    /// checked when a [`crate::Sampler`] is built.
    pub fn config(&self, seed: u64, ramp_batches: u64) -> Result<SamplerConfig, SamplerError> {
        let strategy = match self.strategy {
            StrategyKind::EnEn => Strategy::EnEn,
            StrategyKind::XX => Strategy::XX,
            StrategyKind::XXMono => Strategy::XXMono,
            StrategyKind::XY => Strategy::XY,
            StrategyKind::Hybrid => {
                let start = self
                    .alpha
                    .ok_or_else(|| SamplerError::InvalidConfig("the hybrid strategy needs alpha (0 to 1)".into()))?;
                let alpha = match self.alpha_end {
                    Some(end) => AlphaSchedule::Linear { start, end, batches: ramp_batches },
                    None => AlphaSchedule::Constant(start),
                };
                Strategy::Hybrid { alpha }
            }
        };
        Ok(SamplerConfig {
            strategy,
            batch_size: self.batch_size,
            language_weighting: self.language_weighting,
            source_per_batch: self.source_per_batch,
            seed,
            english: self.english.clone(),
            small_languages: self.small_languages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_strategies_names() {
        let strategies = [
            Strategy::EnEn,
            Strategy::XX,
            Strategy::XXMono,
            Strategy::XY,
            Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) },
        ];
        for strategy in strategies {
            assert_eq!(strategy.kind().name(), strategy.name());
            let json = serde_json::to_string(&strategy.kind()).unwrap();
            assert_eq!(json, format!("\"{}\"", strategy.name()));
        }
    }

    #[test]
    fn options_become_the_config() {
        let mut options = SamplerOptions::new(StrategyKind::Hybrid, 8);
        let err = options.config(1, 10).unwrap_err().to_string();
        assert!(err.contains("needs alpha"), "{err}");
        options.alpha = Some(0.25);
        let config = options.config(3, 10).unwrap();
        assert_eq!(config, SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.25) }, 8, 3));
        options.alpha_end = Some(0.75);
        assert_eq!(
            options.config(3, 10).unwrap().strategy,
            Strategy::Hybrid { alpha: AlphaSchedule::Linear { start: 0.25, end: 0.75, batches: 10 } }
        );
        // α stays in the options of another strategy, and does not matter there.
        options.strategy = StrategyKind::XY;
        assert_eq!(options.config(3, 10).unwrap(), SamplerConfig::new(Strategy::XY, 8, 3));
    }

    #[test]
    fn only_set_fields_are_written() {
        let mut options = SamplerOptions::new(StrategyKind::XY, 4);
        let json = serde_json::to_string(&options).unwrap();
        assert_eq!(
            json,
            r#"{"strategy":"x-y","batch_size":4,"language_weighting":"uniform","source_per_batch":false,"small_languages":"error"}"#
        );
        options.english = "eng".into();
        options.alpha = Some(0.5);
        let back: SamplerOptions = serde_json::from_str(&serde_json::to_string(&options).unwrap()).unwrap();
        assert_eq!(back, options);
        assert!(serde_json::from_str::<SamplerOptions>(r#"{"strategy":"mixed","batch_size":4}"#).is_err());
    }
}

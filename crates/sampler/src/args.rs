//! Command-line flags for a sampler configuration (feature `clap`), the same vocabulary as
//! [`SamplerOptions`]: `polyret sample` flattens [`SamplerArgs`] into its arguments.

use crate::config::{LanguageWeighting, SamplerConfig, SmallLanguagePolicy};
use crate::error::SamplerError;
use crate::options::{SamplerOptions, StrategyKind};

/// α of `--strategy hybrid` when `--alpha` is not given.
pub const DEFAULT_ALPHA: f64 = 0.5;

/// How batches are composed, as flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SamplerArgs {
    /// Batch composition.
    #[arg(long, value_enum, default_value_t = StrategyKind::Hybrid)]
    pub strategy: StrategyKind,
    /// Hybrid only: probability of a monolingual (X-X-mono) batch [default: 0.5]; with
    /// --alpha-end, the start of a linear ramp.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Hybrid only: α at the end of a linear ramp from --alpha over --alpha-ramp batches.
    #[arg(long, requires = "alpha_ramp")]
    pub alpha_end: Option<f64>,
    /// Hybrid only: length of the α ramp in batches.
    #[arg(long, requires = "alpha_end")]
    pub alpha_ramp: Option<u64>,
    /// Pairs per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How languages are drawn.
    #[arg(long, value_enum, default_value_t = Weighting::Uniform)]
    pub weighting: Weighting,
    /// Exponent τ of `--weighting temperature` (p ∝ n^τ).
    #[arg(long, required_if_eq("weighting", "temperature"))]
    pub temperature: Option<f64>,
    /// Draw one source per batch (in proportion to its size) instead of mixing sources.
    #[arg(long)]
    pub source_per_batch: bool,
    /// Language code of the en-en strategy.
    #[arg(long, default_value = "en")]
    pub english: String,
    /// Languages with fewer groups than the batch size: fail, or leave them out of the draws.
    #[arg(long, value_enum, default_value_t = SmallLanguagePolicy::Error)]
    pub small_languages: SmallLanguagePolicy,
}

/// `--weighting`: [`LanguageWeighting`] without its exponent (given by `--temperature`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// Every language equally often.
    Uniform,
    /// Languages in proportion to their number of groups.
    Proportional,
    /// p ∝ n^τ (set τ with --temperature).
    Temperature,
}

impl SamplerArgs {
    /// The options the flags describe; refuses flags that do not apply to the others.
    pub fn options(&self) -> Result<SamplerOptions, SamplerError> {
        let hybrid = self.strategy == StrategyKind::Hybrid;
        let refuse = |message: &str| Err(SamplerError::InvalidConfig(message.into()));
        if !hybrid && (self.alpha.is_some() || self.alpha_end.is_some()) {
            return refuse("--alpha, --alpha-end and --alpha-ramp apply to --strategy hybrid only");
        }
        if self.temperature.is_some() && self.weighting != Weighting::Temperature {
            return refuse("--temperature applies to --weighting temperature only");
        }
        let language_weighting = match (self.weighting, self.temperature) {
            (Weighting::Uniform, _) => LanguageWeighting::Uniform,
            (Weighting::Proportional, _) => LanguageWeighting::Proportional,
            (Weighting::Temperature, Some(tau)) => LanguageWeighting::Temperature(tau),
            (Weighting::Temperature, None) => return refuse("--weighting temperature needs --temperature"),
        };
        Ok(SamplerOptions {
            strategy: self.strategy,
            alpha: hybrid.then(|| self.alpha.unwrap_or(DEFAULT_ALPHA)),
            alpha_end: self.alpha_end,
            batch_size: self.batch_size,
            language_weighting,
            source_per_batch: self.source_per_batch,
            small_languages: self.small_languages,
            english: self.english.clone(),
        })
    }

    /// The sampler configuration the flags describe (see [`SamplerArgs::options`]).
    pub fn config(&self) -> Result<SamplerConfig, SamplerError> {
        self.options()?.config(self.seed, self.alpha_ramp.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::{AlphaSchedule, Strategy};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SamplerArgs,
    }

    fn parse(flags: &[&str]) -> Result<SamplerArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("sample").chain(flags.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn flags_map_onto_the_config_and_misplaced_flags_fail() {
        let flags = "--alpha 0.8 --alpha-end 0.2 --alpha-ramp 100 --weighting temperature --temperature 0.3 \
                     --small-languages exclude --seed 7";
        let config = parse(&flags.split(' ').collect::<Vec<_>>()).unwrap().config().unwrap();
        assert_eq!(
            config.strategy,
            Strategy::Hybrid { alpha: AlphaSchedule::Linear { start: 0.8, end: 0.2, batches: 100 } }
        );
        assert_eq!(config.language_weighting, LanguageWeighting::Temperature(0.3));
        assert_eq!((config.seed, config.batch_size), (7, 32));
        assert_eq!(config.small_languages, SmallLanguagePolicy::Exclude);
        let default = parse(&[]).unwrap().config().unwrap();
        assert_eq!(default, SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, 32, 0));

        let err = parse(&["--strategy", "x-y", "--alpha", "0.3"]).unwrap().config().unwrap_err();
        assert!(err.to_string().contains("hybrid only"), "{err}");
        let err = parse(&["--temperature", "0.3"]).unwrap().config().unwrap_err();
        assert!(err.to_string().contains("temperature only"), "{err}");
        assert!(parse(&["--weighting", "temperature"]).is_err());
        assert!(parse(&["--alpha-end", "0.1"]).is_err());
        for name in ["en-en", "x-x", "x-x-mono", "x-y", "hybrid"] {
            let strategy = parse(&["--strategy", name]).unwrap().config().unwrap().strategy;
            assert_eq!(strategy.name(), name);
        }
    }
}

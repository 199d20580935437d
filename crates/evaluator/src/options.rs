//! How to evaluate: [`EvalOptions`] and which settings keep their rankings for run files.

use std::path::PathBuf;

use crate::report::Setting;
use crate::search::DEFAULT_MEMORY_BUDGET;

/// Which settings get `run.trec` + `qrels.trec` files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrecExport {
    /// No run files.
    None,
    /// Only the multilingual pool (one ranking per query; the default: the cell files of a
    /// large benchmark are many times bigger).
    #[default]
    Multilingual,
    /// All three settings.
    All,
}

impl TrecExport {
    /// The settings exported.
    pub fn settings(self) -> Vec<Setting> {
        match self {
            TrecExport::None => Vec::new(),
            TrecExport::Multilingual => vec![Setting::Multilingual],
            TrecExport::All => Setting::ALL.to_vec(),
        }
    }
}

impl std::str::FromStr for TrecExport {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(TrecExport::None),
            "multilingual" => Ok(TrecExport::Multilingual),
            "all" => Ok(TrecExport::All),
            _ => Err(format!("unknown TREC export {s:?} (none, multilingual, all)")),
        }
    }
}

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Name of the model in reports and the run tag.
    pub model_name: String,
    /// Evaluate only these languages (queries and documents); `None`: all.
    pub langs: Option<Vec<String>>,
    /// Documents per exported ranking. trec_eval on the run files reproduces exactly every
    /// measure whose cutoff is at most this depth ([`crate::Metric::cutoff`]).
    pub run_depth: usize,
    /// Also extend every exported ranking down to its lowest-ranked relevant document, so that
    /// trec_eval reproduces full-ranking `map` too. Runs then grow with the model's worst
    /// ranks (about 100 MB for XQuAD-R's multilingual pool with e5-small).
    pub run_cover: bool,
    /// Which settings keep their rankings for run files ([`crate::Evaluation::write`]);
    /// [`TrecExport::None`] when the evaluation will not be written.
    pub trec: TrecExport,
    /// Embedding cache directory; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Bytes for one block of query × document scores.
    pub memory_budget: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            model_name: "model".into(),
            langs: None,
            run_depth: 100,
            run_cover: false,
            trec: TrecExport::default(),
            cache_dir: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

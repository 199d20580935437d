//! Named f32 weights in HF naming, independent of Burn: what checkpoint readers produce and
//! what the model consumes, with a record of which keys were used so nothing is silently dropped.

mod e5s1;
mod safetensors_io;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use e5s1::{E5s1Header, read_e5s1};
pub use safetensors_io::{read_safetensors, write_safetensors};

use crate::EncoderError;

/// One dense tensor: row-major f32 data and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Shape, outermost first (HF / PyTorch order).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// A tensor; panics if `data` does not fill `shape` (a programming error, not bad input).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape {shape:?} vs {} values", data.len());
        Self { shape, data }
    }
}

/// Weights keyed by HF parameter name, e.g. `encoder.layer.0.attention.self.query.weight`.
///
/// The model takes what it needs with [`WeightMap::take`]; [`WeightMap::finish`] then reports
/// the keys nobody took (a head, a different architecture) and the ones that were missing.
#[derive(Debug, Default)]
pub struct WeightMap {
    source: PathBuf,
    tensors: BTreeMap<String, NamedTensor>,
    missing: Vec<String>,
}

/// What loading a checkpoint did with its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Checkpoint keys the model did not use (e.g. a masked-LM head).
    pub unused: Vec<String>,
    /// Optional parameters the checkpoint lacked and that were left out (e.g. the pooler).
    pub absent_optional: Vec<String>,
}

/// Prefixes that wrap the encoder inside task models (`BertForMaskedLM` → `bert.`).
const WRAPPER_PREFIXES: [&str; 3] = ["bert.", "roberta.", "model."];
/// Buffers that are not parameters and are recomputed by the model.
const BUFFERS: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];

impl WeightMap {
    /// Builds a map from named tensors read from `source` (kept for error messages). Strips a
    /// `bert.` / `roberta.` wrapper prefix when every encoder key carries it.
    pub fn new(source: impl Into<PathBuf>, tensors: BTreeMap<String, NamedTensor>) -> Self {
        let prefix =
            WRAPPER_PREFIXES.into_iter().find(|p| tensors.keys().any(|k| k.starts_with(&format!("{p}embeddings."))));
        let tensors = tensors
            .into_iter()
            .map(|(name, t)| match prefix.and_then(|p| name.strip_prefix(p)) {
                Some(stripped) => (stripped.to_owned(), t),
                None => (name, t),
            })
            .filter(|(name, _)| !BUFFERS.contains(&name.as_str()))
            .collect();
        Self { source: source.into(), tensors, missing: Vec::new() }
    }

    /// The file these weights came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Whether a key is present (and not yet taken).
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The highest `N` among keys not yet taken that read `{prefix}N.…` (e.g. the deepest
    /// `encoder.layer.N` left over).
    pub fn highest_index(&self, prefix: &str) -> Option<usize> {
        self.tensors.keys().filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse::<usize>().ok()).max()
    }

    /// Removes and returns `name`, checking its shape. A missing key is recorded and an empty
    /// placeholder returned so that one load reports *all* missing keys at once in `finish`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<NamedTensor, EncoderError> {
        match self.tensors.remove(name) {
            Some(t) if t.shape == shape => Ok(t),
            Some(t) => Err(EncoderError::Weights {
                path: self.source.clone(),
                message: format!("{name}: shape {:?}, the config implies {shape:?}", t.shape),
            }),
            None => {
                self.missing.push(name.to_owned());
                Ok(NamedTensor::new(shape.to_vec(), vec![0.0; shape.iter().product()]))
            }
        }
    }

    /// Ends loading: an error listing every missing key, else a report of unused keys.
    pub fn finish(self, absent_optional: Vec<String>) -> Result<LoadReport, EncoderError> {
        if !self.missing.is_empty() {
            return Err(EncoderError::Weights {
                path: self.source,
                message: format!("missing tensors: {}", self.missing.join(", ")),
            });
        }
        let unused: Vec<String> = self.tensors.into_keys().collect();
        if !unused.is_empty() {
            tracing::warn!(file = %self.source.display(), "{} unused tensors: {}", unused.len(), summarize(&unused));
        }
        Ok(LoadReport { unused, absent_optional })
    }
}

/// `a.b.0.c, a.b.1.c` → `a.b.*.c (2)`: keeps warnings about heads readable.
fn summarize(keys: &[String]) -> String {
    let mut patterns: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        let pattern: Vec<&str> =
            key.split('.').map(|part| if part.parse::<usize>().is_ok() { "*" } else { part }).collect();
        *patterns.entry(pattern.join(".")).or_default() += 1;
    }
    let unique: BTreeSet<String> =
        patterns.into_iter().map(|(p, n)| if n > 1 { format!("{p} ({n})") } else { p }).collect();
    unique.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(keys: &[&str]) -> WeightMap {
        let tensors = keys.iter().map(|k| (k.to_string(), NamedTensor::new(vec![1], vec![1.0]))).collect();
        WeightMap::new("model.safetensors", tensors)
    }

    #[test]
    fn strips_wrapper_prefix_and_buffers() {
        let mut weights = map(&["bert.embeddings.LayerNorm.weight", "bert.embeddings.position_ids", "cls.bias"]);
        assert!(weights.contains("embeddings.LayerNorm.weight"));
        weights.take("embeddings.LayerNorm.weight", &[1]).unwrap();
        let report = weights.finish(vec![]).unwrap();
        assert_eq!(report.unused, vec!["cls.bias".to_string()]);
    }

    #[test]
    fn reports_every_missing_key() {
        let mut weights = map(&["embeddings.a"]);
        weights.take("embeddings.b", &[1]).unwrap();
        weights.take("embeddings.c", &[1]).unwrap();
        let err = weights.finish(vec![]).unwrap_err().to_string();
        assert!(
            err.contains("embeddings.b") && err.contains("embeddings.c") && err.contains("model.safetensors"),
            "{err}"
        );
    }

    #[test]
    fn rejects_wrong_shape() {
        let mut weights = map(&["embeddings.a"]);
        let err = weights.take("embeddings.a", &[2]).unwrap_err().to_string();
        assert!(err.contains("[1]") && err.contains("[2]"), "{err}");
    }

    #[test]
    fn summarizes_layer_keys() {
        let keys = vec!["cls.l.0.w".to_string(), "cls.l.1.w".to_string(), "x".to_string()];
        assert_eq!(summarize(&keys), "cls.l.*.w (2), x");
    }
}

//! The sampler over a pair table: `polyret.HybridBatchSampler`'s core and `expand_parallel`.

use polyret_sampler::{PairTable, Sampler, SamplerConfig, SamplerState};
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use crate::arrays::to_bytearray;
use crate::{check_langs, check_len, error};

/// Source name of every row when the caller gives none.
const DEFAULT_SOURCE: &str = "default";

/// The rows of a pair table, checked: one group id, query and passage language (and source) per
/// row, canonical language codes.
fn pair_table(
    group_ids: &[String],
    query_langs: &[String],
    passage_langs: &[String],
    sources: Option<&[String]>,
) -> PyResult<PairTable> {
    check_len("query_langs", query_langs.len(), group_ids.len(), "group_ids")?;
    check_len("passage_langs", passage_langs.len(), group_ids.len(), "group_ids")?;
    if let Some(sources) = sources {
        check_len("sources", sources.len(), group_ids.len(), "group_ids")?;
    }
    check_langs("query_langs", query_langs)?;
    check_langs("passage_langs", passage_langs)?;
    let source = |i: usize| sources.map_or(DEFAULT_SOURCE, |s| s[i].as_str());
    let rows = (0..group_ids.len()).map(|i| (&group_ids[i][..], &query_langs[i][..], &passage_langs[i][..], source(i)));
    PairTable::from_rows(rows).map_err(|e| error(&e))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| crate::PolyretError::new_err(format!("{what}: {e}")))
}

/// A [`Sampler`] over a pair table, handing out batches as row numbers.
#[pyclass(module = "polyret._polyret")]
pub struct PairSampler {
    table: PairTable,
    config: SamplerConfig,
    sampler: Sampler,
}

#[pymethods]
impl PairSampler {
    /// `config` is a `SamplerConfig` in JSON (`docs/sampler.md`); `state` a saved
    /// `SamplerState` in JSON to resume from.
    #[new]
    #[pyo3(signature = (group_ids, query_langs, passage_langs, config, sources=None, state=None))]
    fn new(
        py: Python<'_>,
        group_ids: Vec<String>,
        query_langs: Vec<String>,
        passage_langs: Vec<String>,
        config: &str,
        sources: Option<Vec<String>>,
        state: Option<&str>,
    ) -> PyResult<Self> {
        let config: SamplerConfig = parse("sampler configuration", config)?;
        let state: Option<SamplerState> = state.map(|s| parse("sampler state", s)).transpose()?;
        py.detach(|| {
            let table = pair_table(&group_ids, &query_langs, &passage_langs, sources.as_deref())?;
            let sampler = match state {
                None => table.sampler(config.clone()),
                Some(state) => table.resume(config.clone(), state),
            }
            .map_err(|e| error(&e))?;
            Ok(Self { table, config, sampler })
        })
    }

    /// The row numbers of the next batch.
    fn next_rows(&mut self) -> PyResult<Vec<usize>> {
        let batch = self.sampler.next_batch();
        self.table.rows(&batch).map_err(|e| error(&e))
    }

    /// Draws and drops `n` batches.
    fn skip(&mut self, py: Python<'_>, n: u64) {
        let sampler = &mut self.sampler;
        py.detach(|| (0..n).for_each(|_| drop(sampler.next_batch())));
    }

    /// Back to batch 0 of the same sequence.
    fn restart(&mut self) -> PyResult<()> {
        self.sampler = self.table.sampler(self.config.clone()).map_err(|e| error(&e))?;
        Ok(())
    }

    /// Moves to a saved position (`SamplerState` JSON) of the same table and configuration.
    fn resume(&mut self, state: &str) -> PyResult<()> {
        let state: SamplerState = parse("sampler state", state)?;
        self.sampler = self.table.resume(self.config.clone(), state).map_err(|e| error(&e))?;
        Ok(())
    }

    /// The current position as `SamplerState` JSON.
    fn state(&self) -> String {
        serde_json::to_string(&self.sampler.state()).expect("sampler states serialise")
    }

    /// The configuration as `SamplerConfig` JSON, every default filled in.
    #[getter]
    fn config(&self) -> String {
        serde_json::to_string(&self.config).expect("sampler configurations serialise")
    }

    /// Index of the next batch.
    #[getter]
    fn position(&self) -> u64 {
        self.sampler.position()
    }

    /// Batches per nominal epoch.
    #[getter]
    fn batches_per_epoch(&self) -> u64 {
        self.sampler.batches_per_epoch()
    }

    /// Number of rows of the table.
    #[getter]
    fn rows(&self) -> usize {
        self.table.len()
    }

    /// Languages left out under `small_languages="exclude"`, one sentence each.
    fn excluded(&self) -> Vec<String> {
        self.sampler.excluded().iter().map(ToString::to_string).collect()
    }
}

/// `(query row, passage row)` pairs of a parallel table, as the native int64 bytes of an
/// `n × 2` array.
#[pyfunction]
#[pyo3(signature = (group_ids, langs, sources=None))]
pub fn expand_parallel<'py>(
    py: Python<'py>,
    group_ids: Vec<String>,
    langs: Vec<String>,
    sources: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyByteArray>> {
    check_len("langs", langs.len(), group_ids.len(), "group_ids")?;
    if let Some(sources) = &sources {
        check_len("sources", sources.len(), group_ids.len(), "group_ids")?;
    }
    check_langs("langs", &langs)?;
    let source = |i: usize| sources.as_ref().map_or(DEFAULT_SOURCE, |s| s[i].as_str());
    let rows = (0..group_ids.len()).map(|i| (&group_ids[i][..], &langs[i][..], source(i)));
    let pairs = polyret_sampler::expand_parallel(rows).map_err(|e| error(&e))?;
    let flat: Vec<i64> = pairs.iter().flat_map(|&(q, p)| [q as i64, p as i64]).collect();
    to_bytearray(py, &flat, i64::to_ne_bytes)
}

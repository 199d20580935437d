//! A batch written out: group ids and language codes instead of indices.

use serde::Serialize;

use crate::index::GroupIndex;
use crate::sampler::{Batch, BatchKind};

/// One batch by name: what `polyret sample` writes per line and the trainer logs per step
/// (`batches.jsonl`), e.g. to replay the batches in another implementation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchRecord<'a> {
    /// Position in the sequence, from 0.
    pub batch: u64,
    /// Pass over the data, from 0.
    pub epoch: u64,
    /// `mono`, `cross` or `mixed`.
    pub kind: BatchKind,
    /// The pairs, in draw order.
    pub pairs: Vec<PairRecord<'a>>,
}

/// One pair of a [`BatchRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PairRecord<'a> {
    /// The group's id in its table.
    pub group_id: &'a str,
    /// The group's source.
    pub source: &'a str,
    /// Language of the query.
    pub query_lang: &'a str,
    /// Language of the passage.
    pub passage_lang: &'a str,
}

impl<'a> BatchRecord<'a> {
    /// `batch` with the names `index` gives its groups and languages.
    pub fn new(index: &'a GroupIndex, batch: &Batch) -> Self {
        let pairs = batch
            .pairs
            .iter()
            .map(|p| PairRecord {
                group_id: index.group_id(p.group),
                source: index.group_source(p.group),
                query_lang: index.lang_code(p.query_lang),
                passage_lang: index.lang_code(p.passage_lang),
            })
            .collect();
        Self { batch: batch.index, epoch: batch.epoch, kind: batch.kind, pairs }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Sampler, SamplerConfig, Strategy};

    /// The bytes of a `polyret sample` line.
    #[test]
    fn a_record_is_one_json_line() {
        let mut builder = GroupIndex::builder();
        for g in 0..4 {
            builder.add_group(&format!("q{g}"), "xquad", &["en", "de"], &["en", "de"]).unwrap();
        }
        let index = Arc::new(builder.build().unwrap());
        let mut sampler = Sampler::new(Arc::clone(&index), SamplerConfig::new(Strategy::XY, 2, 7)).unwrap();
        let batch = sampler.next_batch();
        let line = serde_json::to_string(&BatchRecord::new(&index, &batch)).unwrap();
        let pair = |p: &crate::PairRef| {
            format!(
                r#"{{"group_id":"{}","source":"xquad","query_lang":"{}","passage_lang":"{}"}}"#,
                index.group_id(p.group),
                index.lang_code(p.query_lang),
                index.lang_code(p.passage_lang)
            )
        };
        let pairs: Vec<String> = batch.pairs.iter().map(pair).collect();
        let expected = format!(r#"{{"batch":0,"epoch":0,"kind":"cross","pairs":[{}]}}"#, pairs.join(","));
        assert_eq!(line, expected);
    }
}

//! What an evaluation produces and how it is stored: `results.json` (aggregates, matrices, bias,
//! timings; layout in `docs/evaluation.md`) and `per_query.tsv` (one line per query and ranking,
//! which `polyret compare` pairs across models).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bias::LanguageBias;
use crate::error::{EvalError, Result};
use crate::metrics::{METRIC_COUNT, Metric, MetricValues};

/// Version tag of the results layout; readers refuse other versions.
pub const RESULTS_FORMAT: &str = "polyret-eval/1";
/// File names inside an output directory.
pub const RESULTS_FILE: &str = "results.json";
/// See [`RESULTS_FILE`].
pub const PER_QUERY_FILE: &str = "per_query.tsv";
/// See [`RESULTS_FILE`].
pub const SUMMARY_FILE: &str = "summary.md";
/// See [`RESULTS_FILE`].
pub const HEATMAP_FILE: &str = "heatmap_map.png";

/// The three LAReQA settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// One pool of every language's passages; every parallel copy of the answer is relevant.
    Multilingual,
    /// Query language = corpus language cells of the matrix, averaged.
    Monolingual,
    /// Query language ≠ corpus language cells of the matrix, averaged.
    Crosslingual,
}

impl Setting {
    /// All settings, in report order.
    pub const ALL: [Setting; 3] = [Setting::Multilingual, Setting::Monolingual, Setting::Crosslingual];

    /// Lower-case name (directory names, TSV, JSON keys).
    pub fn name(self) -> &'static str {
        match self {
            Setting::Multilingual => "multilingual",
            Setting::Monolingual => "monolingual",
            Setting::Crosslingual => "crosslingual",
        }
    }

    fn from_name(s: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Metric values serialised as a JSON object keyed by [`Metric::key`], in [`Metric::ALL`] order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores(pub MetricValues);

impl Scores {
    /// The value of one measure.
    pub fn get(&self, m: Metric) -> f64 {
        self.0[m as usize]
    }
}

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(METRIC_COUNT))?;
        for m in Metric::ALL {
            map.serialize_entry(m.key(), &self.0[m as usize])?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Scores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let map = BTreeMap::<String, f64>::deserialize(d)?;
        let mut values = [0.0; METRIC_COUNT];
        for m in Metric::ALL {
            values[m as usize] = *map.get(m.key()).ok_or_else(|| D::Error::missing_field(m.key()))?;
        }
        Ok(Scores(values))
    }
}

/// The model that was evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Display name (the model directory's name by default).
    pub name: String,
    /// [`crate::Embedder::fingerprint`].
    pub fingerprint: String,
    /// Embedding width.
    pub dim: usize,
}

/// The benchmark that was evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Evaluation set name (catalog table).
    pub name: String,
    /// SHA-256 over every query, document and judgement of the set as evaluated (after the
    /// language filter): results with equal digests ranked the same data.
    pub content_sha256: String,
    /// Languages evaluated (after the filter), sorted.
    pub languages: Vec<String>,
    /// Queries, documents and judgements after the language filter.
    pub queries: usize,
    /// See [`DatasetInfo::queries`].
    pub documents: usize,
    /// See [`DatasetInfo::queries`].
    pub qrels: usize,
}

/// Scores of one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingScores {
    /// mAP, repeated for MTEB-style readers.
    pub main_score: f64,
    /// Every measure: the mean over languages (multilingual) or cells (mono/cross) of the mean
    /// over queries.
    pub scores: Scores,
    /// Rankings averaged (query × corpus-language pairs for mono/cross).
    pub rankings: usize,
    /// Matrix cells averaged (mono/cross only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    /// Per query language: mean over its queries (multilingual only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_query_lang: BTreeMap<String, Scores>,
}

/// The query-language × corpus-language matrix; `None` marks a cell where no query has a
/// relevant document (e.g. the diagonal of a translated caption set, whose only same-language
/// copy is the query itself) — absent, not 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellMatrix {
    /// Row labels.
    pub query_langs: Vec<String>,
    /// Column labels.
    pub corpus_langs: Vec<String>,
    /// Queries evaluated per cell (0 where absent).
    pub queries: Vec<Vec<usize>>,
    /// Metric key → rows of cell means.
    pub metrics: BTreeMap<String, Vec<Vec<Option<f64>>>>,
}

impl CellMatrix {
    /// The matrix of one measure.
    pub fn metric(&self, m: Metric) -> &[Vec<Option<f64>>] {
        self.metrics.get(m.key()).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Wall-clock seconds of each stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Embedding the distinct query texts.
    pub encode_queries_s: f64,
    /// Whether those came from the embedding cache.
    pub queries_cached: bool,
    /// Embedding the distinct document texts.
    pub encode_corpus_s: f64,
    /// Whether those came from the embedding cache.
    pub corpus_cached: bool,
    /// Scoring, ranking and measuring.
    pub search_s: f64,
    /// Everything, including writing the outputs when they are written.
    pub total_s: f64,
}

/// Options that shaped the results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Language filter (`None`: all languages).
    pub langs: Option<Vec<String>>,
    /// Documents per exported ranking: trec_eval reproduces the measures with a cutoff up to it.
    pub run_depth: usize,
    /// Whether exported rankings also reach their lowest-ranked relevant document (then
    /// trec_eval reproduces full-ranking `map` too).
    pub run_cover: bool,
    /// Settings with run/qrels files.
    pub trec_settings: Vec<Setting>,
    /// Run tag in the run files.
    pub run_tag: String,
}

/// Output files, relative to the results directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputFiles {
    /// Per-query table.
    pub per_query: String,
    /// Markdown summary.
    pub summary: String,
    /// Heatmap of the mAP matrix; `None` when no font was found (see the log).
    pub heatmap: Option<String>,
    /// Setting → run and qrels files.
    pub trec: BTreeMap<String, TrecFiles>,
}

/// The TREC files of one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrecFiles {
    /// `qid Q0 docid rank score tag` lines.
    pub run: String,
    /// `qid 0 docid rel` lines.
    pub qrels: String,
    /// How query ids are formed (`QID` or `QID@LANG`).
    pub qid_format: String,
}

/// Everything an evaluation reports; serialised as `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// [`RESULTS_FORMAT`].
    pub format: String,
    /// Version of Polyret that wrote it.
    pub polyret_version: String,
    /// Benchmark name (MTEB's key for it).
    pub task_name: String,
    /// The model.
    pub model: ModelInfo,
    /// The data.
    pub dataset: DatasetInfo,
    /// Options used.
    pub run: RunInfo,
    /// Multilingual mAP (the LAReQA headline); `None` if no query has a relevant document.
    pub main_score: Option<f64>,
    /// Setting → scores; a setting without any ranking is left out.
    pub scores: BTreeMap<Setting, SettingScores>,
    /// The Q×C matrix.
    pub matrix: CellMatrix,
    /// Language bias in the multilingual pool.
    pub bias: Option<LanguageBias>,
    /// Stage timings.
    pub evaluation_time: Timings,
    /// Files written next to it.
    pub files: OutputFiles,
}

impl EvalReport {
    /// Reads `DIR/results.json`, refusing another layout version.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RESULTS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        let report: EvalReport =
            serde_json::from_str(&text).map_err(|e| EvalError::format(&path, Some(e.line()), e.to_string()))?;
        if report.format != RESULTS_FORMAT {
            return Err(EvalError::format(
                &path,
                None,
                format!("format {:?}, expected {RESULTS_FORMAT:?}", report.format),
            ));
        }
        Ok(report)
    }
}

/// The measures of one ranking: a query against one corpus language (mono/cross) or the
/// whole pool (multilingual). One line of `per_query.tsv`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryUnit {
    /// Setting of the ranking.
    pub setting: Setting,
    /// The query's id in that setting's run file.
    pub run_qid: String,
    /// The query id.
    pub qid: String,
    /// The query's language.
    pub query_lang: String,
    /// The ranked corpus language; `None` for the multilingual pool.
    pub corpus_lang: Option<String>,
    /// Relevant documents in the ranked corpus.
    pub num_rel: u32,
    /// Rank of the highest-ranked relevant document.
    pub first_rel_rank: u32,
    /// Rank of the lowest-ranked relevant document.
    pub last_rel_rank: u32,
    /// The measures.
    pub values: MetricValues,
}

impl QueryUnit {
    /// What the setting average treats as one group: the query language (multilingual) or the
    /// matrix cell (mono/cross).
    pub(crate) fn stratum(&self) -> (&str, Option<&str>) {
        (&self.query_lang, self.corpus_lang.as_deref())
    }
}

/// Weights that turn per-unit values into the setting score: each stratum (query language or
/// cell) weighs equally, each unit equally within its stratum. `Σ wᵢ vᵢ` is the reported score;
/// the randomization test permutes with the same weights, so it tests exactly that number.
pub fn setting_weights(units: &[&QueryUnit]) -> Vec<f64> {
    let mut sizes: BTreeMap<(&str, Option<&str>), usize> = BTreeMap::new();
    for u in units {
        *sizes.entry(u.stratum()).or_default() += 1;
    }
    let strata = sizes.len() as f64;
    units.iter().map(|u| 1.0 / (strata * sizes[&u.stratum()] as f64)).collect()
}

/// The weighted setting score of `units` for every measure.
pub(crate) fn setting_scores(units: &[&QueryUnit]) -> MetricValues {
    let weights = setting_weights(units);
    let mut out = [0.0; METRIC_COUNT];
    for (u, w) in units.iter().zip(&weights) {
        for (o, v) in out.iter_mut().zip(&u.values) {
            *o += w * v;
        }
    }
    out
}

const TSV_FIXED: [&str; 8] =
    ["setting", "run_qid", "qid", "query_lang", "corpus_lang", "num_rel", "first_rel_rank", "last_rel_rank"];
/// `corpus_lang` of multilingual rows.
const POOL: &str = "*";

/// Renders units as `per_query.tsv`: a header, then one line per unit; values are printed in
/// the shortest form that reads back exactly.
pub(crate) fn per_query_tsv(units: &[QueryUnit]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = TSV_FIXED.into_iter().chain(Metric::ALL.map(Metric::key)).collect();
    out.push_str(&header.join("\t"));
    out.push('\n');
    for u in units {
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            u.setting.name(),
            u.run_qid,
            u.qid,
            u.query_lang,
            u.corpus_lang.as_deref().unwrap_or(POOL),
            u.num_rel,
            u.first_rel_rank,
            u.last_rel_rank
        );
        for v in u.values {
            let _ = write!(out, "\t{v}");
        }
        out.push('\n');
    }
    out
}

/// Reads `per_query.tsv`, checking the header and every field.
pub fn read_per_query(path: &Path) -> Result<Vec<QueryUnit>> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_per_query(&text, path)
}

/// Parses the text of a `per_query.tsv` (read from `path`, which errors name; for example a
/// compressed copy, decompressed by the caller), checking the header and every field.
pub fn parse_per_query(text: &str, path: &Path) -> Result<Vec<QueryUnit>> {
    let mut lines = text.lines().enumerate();
    let expected: Vec<&str> = TSV_FIXED.into_iter().chain(Metric::ALL.map(Metric::key)).collect();
    match lines.next() {
        Some((_, h)) if h.split('\t').eq(expected.iter().copied()) => {}
        _ => return Err(EvalError::format(path, Some(1), format!("header is not {:?}", expected.join("\t")))),
    }
    let mut units = Vec::new();
    for (i, line) in lines {
        let bad = |m: String| EvalError::format(path, Some(i + 1), m);
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != expected.len() {
            return Err(bad(format!("{} fields, expected {}", f.len(), expected.len())));
        }
        let int = |s: &str| s.parse::<u32>().map_err(|_| bad(format!("{s:?} is not a count")));
        let mut values = [0.0; METRIC_COUNT];
        for (v, s) in values.iter_mut().zip(&f[TSV_FIXED.len()..]) {
            *v = s.parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| bad(format!("{s:?} is not a number")))?;
        }
        units.push(QueryUnit {
            setting: Setting::from_name(f[0]).ok_or_else(|| bad(format!("unknown setting {:?}", f[0])))?,
            run_qid: f[1].to_owned(),
            qid: f[2].to_owned(),
            query_lang: f[3].to_owned(),
            corpus_lang: (f[4] != POOL).then(|| f[4].to_owned()),
            num_rel: int(f[5])?,
            first_rel_rank: int(f[6])?,
            last_rel_rank: int(f[7])?,
            values,
        });
    }
    if units.is_empty() {
        return Err(EvalError::format(path, None, "no rows"));
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(setting: Setting, qid: &str, ql: &str, cl: Option<&str>, v: f64) -> QueryUnit {
        QueryUnit {
            setting,
            run_qid: qid.into(),
            qid: qid.into(),
            query_lang: ql.into(),
            corpus_lang: cl.map(Into::into),
            num_rel: 1,
            first_rel_rank: 1,
            last_rel_rank: 3,
            values: [v; METRIC_COUNT],
        }
    }

    #[test]
    fn setting_score_is_mean_of_stratum_means() {
        let units = [
            unit(Setting::Crosslingual, "a", "en", Some("de"), 1.0),
            unit(Setting::Crosslingual, "b", "en", Some("de"), 0.0),
            unit(Setting::Crosslingual, "c", "en", Some("de"), 0.5),
            unit(Setting::Crosslingual, "a", "en", Some("zh"), 0.0),
        ];
        let refs: Vec<&QueryUnit> = units.iter().collect();
        // Cell en→de: 0.5, cell en→zh: 0.0 → 0.25.
        assert!((setting_scores(&refs)[0] - 0.25).abs() < 1e-15);
        assert!((setting_weights(&refs).iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn per_query_table_round_trips_and_rejects_bad_lines() {
        let units = vec![
            unit(Setting::Multilingual, "q1", "en", None, 1.0 / 3.0),
            unit(Setting::Crosslingual, "q1@de", "en", Some("de"), 0.1),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PER_QUERY_FILE);
        std::fs::write(&path, per_query_tsv(&units)).unwrap();
        assert_eq!(read_per_query(&path).unwrap(), units);
        let text = per_query_tsv(&units).replace("0.1\t", "x\t");
        std::fs::write(&path, text).unwrap();
        let err = read_per_query(&path).unwrap_err().to_string();
        assert!(err.contains(":3:") && err.contains("\"x\""), "{err}");
        std::fs::write(&path, "setting\n").unwrap();
        assert!(read_per_query(&path).unwrap_err().to_string().contains(":1:"));
    }

    #[test]
    fn scores_serialise_in_metric_order() {
        let s = serde_json::to_string(&Scores([0.5; METRIC_COUNT])).unwrap();
        assert!(s.starts_with("{\"map\":0.5,\"map_at_100\":0.5,\"ndcg_at_10\":0.5"), "{s}");
        let back: Scores = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Scores([0.5; METRIC_COUNT]));
        assert!(serde_json::from_str::<Scores>("{\"map\":1.0}").is_err());
    }
}

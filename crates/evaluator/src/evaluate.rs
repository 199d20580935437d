//! The evaluation itself: prepare the set, embed each distinct text once, rank every query
//! against each corpus language of its subset and against the whole multilingual pool, measure
//! each ranking, and export runs.
//!
//! One score matrix serves every setting: a block of queries is scored against all documents
//! of their subset (sorted by language), and each corpus-language ranking is a contiguous slice
//! of the row, the pool the whole row. A query's own document (same id: caption and bitext
//! sets) is masked out of the row before anything is ranked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use polyret_files::{AtomicFile, NewDirs};
use polyret_ingest::{DocRow, EvalSet};
use sha2::{Digest, Sha256};

use crate::bias::{BIAS_TOP_K, PoolRanking, language_bias};
use crate::embed::{EmbedStats, Embedder, Role, embed_all};
use crate::error::{EvalError, Result};
use crate::metrics::{MetricValues, mean, measure};
use crate::report::{
    CellMatrix, DatasetInfo, EvalReport, ModelInfo, OutputFiles, QueryUnit, RESULTS_FORMAT, RunInfo, Scores, Setting,
    SettingScores, Timings, TrecFiles, setting_scores,
};
use crate::search::{DEFAULT_MEMORY_BUDGET, block_rows, check_finite, par_rows, rank_of, score_block, top_k};
use crate::trec::{valid_id, write_qrels_line, write_run_line};
use crate::write::write_outputs;

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
    /// Which settings get run files (only with `out_dir`).
    pub trec: TrecExport,
    /// Embedding cache directory; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Bytes for one block of query × document scores.
    pub memory_budget: usize,
    /// Where to write the outputs; `None`: only return them.
    pub out_dir: Option<PathBuf>,
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
            out_dir: None,
        }
    }
}

/// An evaluation's report and its per-ranking measures.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Aggregates (what `results.json` holds).
    pub report: EvalReport,
    /// One entry per ranking (what `per_query.tsv` holds).
    pub units: Vec<QueryUnit>,
}

/// A subset's documents: a contiguous range of the sorted corpus, split by language.
struct Group {
    docs: Range<usize>,
    /// Language → range (absolute positions), in language order.
    langs: Vec<(usize, Range<usize>)>,
    /// Queries ranked against this group.
    queries: Vec<usize>,
}

/// A query after filtering.
struct Query {
    row: usize,
    lang: usize,
    /// Position of the document with the query's own id, if it is in the corpus.
    own_doc: Option<usize>,
    /// (document position, grade) of its judged documents in the filtered corpus.
    qrels: Vec<(usize, i32)>,
    /// Index of its text among the distinct query texts.
    text: usize,
}

/// The set, filtered and indexed for ranking.
struct Prepared<'a> {
    set: &'a EvalSet,
    langs: Vec<String>,
    queries: Vec<Query>,
    /// Language of each document of `corpus.docs`.
    doc_lang: Vec<usize>,
    groups: Vec<Group>,
    query_texts: Vec<&'a str>,
    corpus: CorpusLayout<'a>,
}

/// What a language filter selects from a set: its languages (sorted) and, for a set with
/// subsets, only the subsets wholly in them — `tatoeba` with `de,en` is `deu-eng`, not the
/// English side of every `xxx-eng` (the rule of [`EvalSet::select_languages`]). Evaluation
/// and [`crate::CorpusSearch`] select through this, so they agree.
pub(crate) struct Selection<'a> {
    pub langs: Vec<String>,
    partial_subsets: HashSet<&'a str>,
}

impl<'a> Selection<'a> {
    /// Checks `filter` against the set (`None`: every language).
    pub fn new(set: &'a EvalSet, filter: Option<&[String]>) -> Result<Self> {
        let present = set.languages();
        let Some(filter) = filter else {
            return Ok(Self { langs: present, partial_subsets: HashSet::new() });
        };
        if let Some(l) = filter.iter().find(|l| !present.contains(l)) {
            return Err(EvalError::data(
                &set.name,
                format!("language {l} is not in the set (it has {})", present.join(" ")),
            ));
        }
        let partial_subsets = set.partial_subsets(filter);
        let subsets: HashSet<&str> = set.corpus.iter().filter_map(|d| d.subset.as_deref()).collect();
        if !subsets.is_empty() && subsets.iter().all(|s| partial_subsets.contains(s)) {
            return Err(EvalError::data(
                &set.name,
                format!(
                    "no subset has all its languages in {} (Tatoeba pairs each language with en: add en)",
                    filter.join(",")
                ),
            ));
        }
        // A filtered language whose every row sits in a dropped subset is not evaluated.
        let mut selection = Self { langs: filter.to_vec(), partial_subsets };
        let rows =
            set.queries.iter().map(|q| (&q.subset, &q.lang)).chain(set.corpus.iter().map(|d| (&d.subset, &d.lang)));
        let langs: BTreeSet<&String> =
            rows.filter(|(subset, lang)| selection.keeps(subset.as_deref(), lang)).map(|(_, lang)| lang).collect();
        selection.langs = langs.into_iter().cloned().collect();
        Ok(selection)
    }

    /// Whether a row of this subset and language is selected.
    pub fn keeps(&self, subset: Option<&str>, lang: &str) -> bool {
        self.langs.iter().any(|l| l == lang) && subset.is_none_or(|s| !self.partial_subsets.contains(s))
    }
}

/// The documents of a set in some languages, in ranking order, with their distinct texts.
/// Evaluation and [`crate::CorpusSearch`] both lay the corpus out this way, so they share
/// one embedding-cache entry for the same languages.
pub(crate) struct CorpusLayout<'a> {
    /// Corpus rows sorted by (subset, language, docid).
    pub docs: Vec<usize>,
    /// Position of each document in byte-wise docid order (trec_eval's tie order).
    pub ties: Vec<u32>,
    texts: Vec<&'a str>,
    /// Index into `texts` of each document.
    text_of: Vec<usize>,
}

impl<'a> CorpusLayout<'a> {
    /// Lays out the documents of `set` that `selection` keeps.
    pub fn new(set: &'a EvalSet, selection: &Selection) -> Self {
        let kept = |d: &DocRow| selection.keeps(d.subset.as_deref(), &d.lang);
        let mut docs: Vec<usize> = (0..set.corpus.len()).filter(|&i| kept(&set.corpus[i])).collect();
        let key = |i: usize| {
            let d = &set.corpus[i];
            (d.subset.as_deref(), d.lang.as_str(), d.docid.as_bytes())
        };
        docs.sort_by(|&a, &b| key(a).cmp(&key(b)));
        let mut by_id: Vec<usize> = (0..docs.len()).collect();
        by_id.sort_by(|&a, &b| set.corpus[docs[a]].docid.as_bytes().cmp(set.corpus[docs[b]].docid.as_bytes()));
        let mut ties = vec![0u32; docs.len()];
        for (rank, &pos) in by_id.iter().enumerate() {
            ties[pos] = rank as u32;
        }
        let mut texts = Vec::new();
        let text_of = distinct(docs.iter().map(|&i| set.corpus[i].text.as_str()), &mut texts);
        Self { docs, ties, texts, text_of }
    }

    /// Embeds each distinct text once as a passage; returns one row per document, in order.
    pub fn embed(&self, embedder: &dyn Embedder, cache: Option<&Path>) -> Result<(Vec<f32>, EmbedStats)> {
        let (matrix, stats) = embed_all(embedder, &self.texts, Role::Passage, cache, "corpus")?;
        Ok((gather(&matrix, embedder.dim(), self.text_of.iter().copied()), stats))
    }
}

fn distinct<'a>(texts: impl Iterator<Item = &'a str>, out: &mut Vec<&'a str>) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    texts
        .map(|t| {
            *index.entry(t).or_insert_with(|| {
                out.push(t);
                out.len() - 1
            })
        })
        .collect()
}

fn prepare<'a>(set: &'a EvalSet, filter: Option<&[String]>) -> Result<Prepared<'a>> {
    set.validate(Path::new(&set.name))?;
    for id in set.queries.iter().map(|q| &q.qid).chain(set.corpus.iter().map(|d| &d.docid)) {
        if !valid_id(id) {
            return Err(EvalError::data(
                &set.name,
                format!("id {id:?} is empty or holds whitespace (TREC files cannot)"),
            ));
        }
    }
    let selection = Selection::new(set, filter)?;
    let corpus = CorpusLayout::new(set, &selection);
    let kept: Vec<usize> = (0..set.queries.len())
        .filter(|&i| selection.keeps(set.queries[i].subset.as_deref(), &set.queries[i].lang))
        .collect();
    let langs = selection.langs;
    let lang_index: HashMap<&str, usize> = langs.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let docs = &corpus.docs;
    let subset_of = |i: usize| set.corpus[i].subset.as_deref();
    let doc_lang: Vec<usize> = docs.iter().map(|&i| lang_index[set.corpus[i].lang.as_str()]).collect();
    let position: HashMap<&str, usize> =
        docs.iter().enumerate().map(|(p, &i)| (set.corpus[i].docid.as_str(), p)).collect();

    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<Option<&str>, usize> = HashMap::new();
    for p in 0..docs.len() {
        let subset = subset_of(docs[p]);
        let g = *group_of.entry(subset).or_insert_with(|| {
            groups.push(Group { docs: p..p, langs: Vec::new(), queries: Vec::new() });
            groups.len() - 1
        });
        let group = &mut groups[g];
        group.docs.end = p + 1;
        match group.langs.last_mut() {
            Some((l, r)) if *l == doc_lang[p] => r.end = p + 1,
            _ => group.langs.push((doc_lang[p], p..p + 1)),
        }
    }

    let mut judged: HashMap<&str, Vec<(usize, i32)>> = HashMap::new();
    for r in &set.qrels {
        if let Some(&p) = position.get(r.docid.as_str()) {
            judged.entry(r.qid.as_str()).or_default().push((p, r.rel));
        }
    }
    let mut query_texts = Vec::new();
    let text_ids = distinct(kept.iter().map(|&i| set.queries[i].text.as_str()), &mut query_texts);
    let mut queries = Vec::new();
    let mut unranked = 0usize;
    for (&row, text) in kept.iter().zip(text_ids) {
        let q = &set.queries[row];
        let qrels = judged.remove(q.qid.as_str()).unwrap_or_default();
        let Some(&g) = group_of.get(&q.subset.as_deref()).filter(|_| !qrels.is_empty()) else {
            unranked += 1;
            continue;
        };
        groups[g].queries.push(queries.len());
        queries.push(Query {
            row,
            lang: lang_index[q.lang.as_str()],
            own_doc: position.get(q.qid.as_str()).copied(),
            qrels,
            text,
        });
    }
    if unranked > 0 {
        tracing::info!("{}: {unranked} queries have no relevant document among the evaluated languages", set.name);
    }
    if queries.is_empty() {
        return Err(EvalError::data(&set.name, "no query has a relevant document among the evaluated languages"));
    }
    Ok(Prepared { set, langs, queries, doc_lang, groups, query_texts, corpus })
}

impl Prepared<'_> {
    fn qid(&self, q: &Query) -> &str {
        &self.set.queries[q.row].qid
    }

    fn docid(&self, pos: usize) -> &str {
        &self.set.corpus[self.corpus.docs[pos]].docid
    }

    fn run_qid(&self, q: &Query, setting: Setting, corpus_lang: Option<usize>) -> String {
        match (setting, corpus_lang) {
            (Setting::Crosslingual, Some(c)) => format!("{}@{}", self.qid(q), self.langs[c]),
            _ => self.qid(q).to_owned(),
        }
    }

    /// SHA-256 over every query, document and judgement evaluated, in set order.
    fn content_digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        for q in &self.queries {
            let r = &self.set.queries[q.row];
            for s in [&r.qid, &r.lang, &r.text, &r.group_id, r.subset.as_deref().unwrap_or("")] {
                field(s);
            }
            for &(p, rel) in &q.qrels {
                field(self.docid(p));
                field(&rel.to_string());
            }
        }
        let mut rows: Vec<usize> = self.corpus.docs.clone();
        rows.sort_unstable();
        for i in rows {
            let d = &self.set.corpus[i];
            for s in [&d.docid, &d.lang, &d.text, &d.group_id, d.subset.as_deref().unwrap_or("")] {
                field(s);
            }
        }
        hex::encode(h.finalize())
    }
}

/// One ranking of one query.
struct Ranked {
    setting: Setting,
    corpus_lang: Option<usize>,
    values: MetricValues,
    num_rel: u32,
    first: u32,
    last: u32,
    /// Judged documents (positions) and grades, for the qrels file.
    judged: Vec<(usize, i32)>,
    /// Exported prefix of the ranking: (position, score).
    run: Vec<(usize, f32)>,
}

/// Every ranking of one query.
struct RowResult {
    query: usize,
    ranked: Vec<Ranked>,
    pool: PoolRanking,
}

/// A ranking's measures plus what the bias report needs from it.
struct SliceRanking {
    ranked: Ranked,
    /// Rank of each judged document, in `ranked.judged` order.
    ranks: Vec<u32>,
    /// The best documents (slice-local indices), best first.
    top: Vec<u32>,
}

/// Which ranking a slice of a score row is, and what to keep of it.
struct Slice {
    setting: Setting,
    corpus_lang: Option<usize>,
    /// Absolute position of the slice's first document.
    offset: usize,
    /// Top documents the caller needs (the bias report looks at the top 10).
    keep: usize,
    /// Depth of the run-file ranking, when this ranking is exported.
    export: Option<usize>,
    /// Whether an exported ranking reaches its lowest-ranked relevant document.
    cover: bool,
}

/// Ranks one slice of a score row: the relevant documents' exact ranks, the measures, the top
/// `keep` documents, and the exported prefix (extended to the lowest-ranked relevant document
/// when `cover` is set).
fn rank_slice(row: &[f32], ties: &[u32], judged: Vec<(usize, i32)>, spec: Slice) -> SliceRanking {
    let Slice { setting, corpus_lang, offset, keep, export, cover } = spec;
    let mut top = Vec::new();
    top_k(row, ties, keep.max(export.unwrap_or(0)), &mut top);
    let ranks: Vec<u32> = judged
        .iter()
        .map(|&(p, _)| {
            let local = (p - offset) as u32;
            match top.iter().position(|&t| t == local) {
                Some(i) => i as u32 + 1,
                None => rank_of(row, ties, local as usize),
            }
        })
        .collect();
    let first = ranks.iter().copied().min().unwrap_or(0);
    let last = ranks.iter().copied().max().unwrap_or(0);
    let export = export.map(|depth| if cover { depth.max(last as usize) } else { depth });
    // Only a covering export can need more than was selected: its lowest relevant document.
    if let Some(n) = export
        && last as usize > top.len()
    {
        top_k(row, ties, n, &mut top);
    }
    let mut retrieved: Vec<(u32, i32)> = ranks.iter().zip(&judged).map(|(&r, &(_, g))| (r, g)).collect();
    let grades: Vec<i32> = judged.iter().map(|&(_, g)| g).collect();
    let values = measure(&mut retrieved, &grades);
    let run =
        export.map_or_else(Vec::new, |n| top.iter().take(n).map(|&t| (t as usize + offset, row[t as usize])).collect());
    let ranked = Ranked { setting, corpus_lang, values, num_rel: judged.len() as u32, first, last, judged, run };
    SliceRanking { ranked, ranks, top }
}

/// Ranks one query's score row (the whole group) in every setting.
fn rank_row(
    p: &Prepared,
    g: &Group,
    qi: usize,
    row: &mut [f32],
    opts: &EvalOptions,
    export: &[Setting],
) -> Result<RowResult> {
    let q = &p.queries[qi];
    check_finite(row, q.row)?;
    if let Some(own) = q.own_doc.filter(|d| g.docs.contains(d)) {
        row[own - g.docs.start] = f32::NAN;
    }
    let row: &[f32] = row;
    let mut ranked = Vec::new();
    for (c, range) in &g.langs {
        let judged: Vec<(usize, i32)> = q.qrels.iter().copied().filter(|(d, _)| range.contains(d)).collect();
        if judged.is_empty() {
            continue;
        }
        let setting = if *c == q.lang { Setting::Monolingual } else { Setting::Crosslingual };
        let exporting = export.contains(&setting);
        let local = range.start - g.docs.start..range.end - g.docs.start;
        let export = exporting.then_some(opts.run_depth);
        let cover = opts.run_cover;
        let spec = Slice { setting, corpus_lang: Some(*c), offset: range.start, keep: 0, export, cover };
        let cell = rank_slice(&row[local], &p.corpus.ties[range.clone()], judged, spec);
        ranked.push(cell.ranked);
    }
    let spec = Slice {
        setting: Setting::Multilingual,
        corpus_lang: None,
        offset: g.docs.start,
        keep: BIAS_TOP_K,
        export: export.contains(&Setting::Multilingual).then_some(opts.run_depth),
        cover: opts.run_cover,
    };
    let all = rank_slice(row, &p.corpus.ties[g.docs.clone()], q.qrels.clone(), spec);
    let own_in_group = q.own_doc.filter(|d| g.docs.contains(d));
    let pool_size = g.docs.len() - usize::from(own_in_group.is_some());
    let same = g.langs.iter().filter(|(l, _)| *l == q.lang).map(|(_, r)| r.len()).sum::<usize>()
        - usize::from(own_in_group.is_some_and(|d| p.doc_lang[d] == q.lang));
    let pool = PoolRanking {
        query_lang: q.lang,
        relevant: all.ranks.iter().zip(&all.ranked.judged).map(|(&r, &(d, _))| (r, p.doc_lang[d])).collect(),
        top_langs: all.top.iter().take(BIAS_TOP_K).map(|&t| p.doc_lang[t as usize + g.docs.start]).collect(),
        pool_same_share: if pool_size == 0 { 0.0 } else { same as f64 / pool_size as f64 },
    };
    ranked.push(all.ranked);
    Ok(RowResult { query: qi, ranked, pool })
}

/// Open run/qrels writers of the exported settings. Dropped without [`TrecWriters::commit`]
/// (the evaluation failed), it leaves nothing behind: the temporaries go, then the folders it
/// created.
struct TrecWriters {
    /// Setting → (run, qrels, rankings written).
    files: BTreeMap<Setting, (AtomicFile, AtomicFile, usize)>,
    /// Folders created for the files, newest first (so a parent goes after its children).
    /// Declared after `files`: dropped after the temporaries in them.
    dirs: Vec<NewDirs>,
    dir: Option<PathBuf>,
    tag: String,
}

impl TrecWriters {
    fn open(dir: Option<&Path>, settings: &[Setting], tag: String) -> Result<Self> {
        let mut writers = Self { files: BTreeMap::new(), dirs: Vec::new(), dir: dir.map(Path::to_owned), tag };
        if let Some(dir) = dir {
            for &s in settings {
                writers.dirs.insert(0, NewDirs::create(&dir.join(s.name()))?);
                let run = AtomicFile::create(&dir.join(s.name()).join("run.trec"))?;
                let qrels = AtomicFile::create(&dir.join(s.name()).join("qrels.trec"))?;
                writers.files.insert(s, (run, qrels, 0));
            }
        }
        Ok(writers)
    }

    fn write(&mut self, p: &Prepared, run_qid: &str, r: &Ranked) -> Result<()> {
        let Some((run, qrels, written)) = self.files.get_mut(&r.setting) else { return Ok(()) };
        *written += 1;
        for (i, &(pos, score)) in r.run.iter().enumerate() {
            write_run_line(run.writer(), run_qid, p.docid(pos), i + 1, score, &self.tag).map_err(|e| run.error(e))?;
        }
        for &(pos, grade) in &r.judged {
            write_qrels_line(qrels.writer(), run_qid, p.docid(pos), grade).map_err(|e| qrels.error(e))?;
        }
        Ok(())
    }

    /// Completes the files of settings that have rankings (a caption set has no monolingual
    /// ranking: its empty files are dropped) and describes them.
    fn commit(self) -> Result<BTreeMap<String, TrecFiles>> {
        let Self { files, dirs, dir, tag: _ } = self;
        let mut out = BTreeMap::new();
        for (s, (run, qrels, written)) in files {
            if written == 0 {
                drop((run, qrels));
                // The setting's directory was made for these files; leave no empty folder.
                if let Some(dir) = &dir {
                    let _ = std::fs::remove_dir(dir.join(s.name()));
                }
                continue;
            }
            run.commit()?;
            qrels.commit()?;
            let qid_format = if s == Setting::Crosslingual { "QID@CORPUS_LANG" } else { "QID" };
            out.insert(
                s.name().to_owned(),
                TrecFiles {
                    run: format!("{}/run.trec", s.name()),
                    qrels: format!("{}/qrels.trec", s.name()),
                    qid_format: qid_format.into(),
                },
            );
        }
        dirs.into_iter().for_each(NewDirs::keep);
        Ok(out)
    }
}

/// Removes run files of settings this evaluation does not export, so that a results directory
/// never mixes files from two evaluations.
fn remove_stale_runs(dir: &Path, exported: &[Setting]) -> Result<()> {
    for s in Setting::ALL.iter().filter(|s| !exported.contains(s)) {
        for name in ["run.trec", "qrels.trec"] {
            let path = dir.join(s.name()).join(name);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(EvalError::io(&path, e)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Gathers rows of `matrix` (width `dim`) into one contiguous block.
fn gather(matrix: &[f32], dim: usize, rows: impl Iterator<Item = usize>) -> Vec<f32> {
    rows.flat_map(|r| &matrix[r * dim..(r + 1) * dim]).copied().collect()
}

/// Evaluates `embedder` on `set`: every setting, the Q×C matrix, language bias; writes the
/// outputs to `opts.out_dir` when set. Errors on an invalid set (see
/// [`EvalSet::validate`]), an unknown language in the filter, a failing embedder, or a
/// non-finite score.
pub fn evaluate(embedder: &dyn Embedder, set: &EvalSet, opts: &EvalOptions) -> Result<Evaluation> {
    let start = Instant::now();
    let p = prepare(set, opts.langs.as_deref())?;
    let dim = embedder.dim();
    let cache = opts.cache_dir.as_deref();
    let (query_matrix, q_stats) = embed_all(embedder, &p.query_texts, Role::Query, cache, "queries")?;
    let (doc_matrix, d_stats) = p.corpus.embed(embedder, cache)?;

    let search_start = Instant::now();
    let export = if opts.out_dir.is_some() { opts.trec.settings() } else { Vec::new() };
    let tag: String = opts.model_name.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
    let tag = if tag.is_empty() { "polyret".to_owned() } else { tag };
    let mut writers = TrecWriters::open(opts.out_dir.as_deref(), &export, tag.clone())?;
    let bar = ProgressBar::new(p.queries.len() as u64).with_message("ranking");
    bar.set_style(
        ProgressStyle::with_template("{msg}: {bar:40} {pos}/{len} queries [{elapsed_precise} < {eta_precise}]")
            .expect("valid template"),
    );
    let mut units = Vec::new();
    let mut pools = Vec::new();
    let mut scores = Vec::new();
    for g in &p.groups {
        let docs = &doc_matrix[g.docs.start * dim..g.docs.end * dim];
        for block in g.queries.chunks(block_rows(g.docs.len(), opts.memory_budget)) {
            let queries = gather(&query_matrix, dim, block.iter().map(|&qi| p.queries[qi].text));
            score_block(&queries, docs, dim, &mut scores);
            let results = par_rows(&mut scores, g.docs.len(), |i, row| rank_row(&p, g, block[i], row, opts, &export));
            for result in results {
                let result = result?;
                let q = &p.queries[result.query];
                for r in &result.ranked {
                    let run_qid = p.run_qid(q, r.setting, r.corpus_lang);
                    writers.write(&p, &run_qid, r)?;
                    units.push(QueryUnit {
                        setting: r.setting,
                        run_qid,
                        qid: p.qid(q).to_owned(),
                        query_lang: p.langs[q.lang].clone(),
                        corpus_lang: r.corpus_lang.map(|c| p.langs[c].clone()),
                        num_rel: r.num_rel,
                        first_rel_rank: r.first,
                        last_rel_rank: r.last,
                        values: r.values,
                    });
                }
                pools.push(result.pool);
            }
            bar.inc(block.len() as u64);
        }
    }
    bar.finish_and_clear();
    let trec_files = writers.commit()?;
    let search_s = search_start.elapsed().as_secs_f64();

    let report = build_report(&p, embedder, opts, &units, &pools, [q_stats, d_stats], search_s, tag, trec_files);
    let mut evaluation = Evaluation { report, units };
    if let Some(dir) = &opts.out_dir {
        remove_stale_runs(dir, &evaluation.report.run.trec_settings)?;
        write_outputs(dir, &mut evaluation, start)?;
    } else {
        evaluation.report.evaluation_time.total_s = start.elapsed().as_secs_f64();
    }
    Ok(evaluation)
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    p: &Prepared,
    embedder: &dyn Embedder,
    opts: &EvalOptions,
    units: &[QueryUnit],
    pools: &[PoolRanking],
    [q_stats, d_stats]: [EmbedStats; 2],
    search_s: f64,
    run_tag: String,
    trec: BTreeMap<String, TrecFiles>,
) -> EvalReport {
    let mut scores = BTreeMap::new();
    for s in Setting::ALL {
        let of: Vec<&QueryUnit> = units.iter().filter(|u| u.setting == s).collect();
        if of.is_empty() {
            continue;
        }
        let values = setting_scores(&of);
        let strata: BTreeSet<_> = of.iter().map(|u| u.stratum()).collect();
        let by_query_lang = if s == Setting::Multilingual {
            let mut by: BTreeMap<&str, Vec<&MetricValues>> = BTreeMap::new();
            of.iter().for_each(|u| by.entry(&u.query_lang).or_default().push(&u.values));
            by.into_iter().filter_map(|(l, v)| Some((l.to_owned(), Scores(mean(v)?)))).collect()
        } else {
            BTreeMap::new()
        };
        scores.insert(
            s,
            SettingScores {
                main_score: values[crate::Metric::Map as usize],
                scores: Scores(values),
                rankings: of.len(),
                cells: (s != Setting::Multilingual).then_some(strata.len()),
                by_query_lang,
            },
        );
    }

    let query_langs: Vec<usize> = p.queries.iter().map(|q| q.lang).collect::<BTreeSet<_>>().into_iter().collect();
    let corpus_langs: Vec<usize> = p.doc_lang.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let mut cells: HashMap<(&str, &str), Vec<&MetricValues>> = HashMap::new();
    for u in units {
        if let Some(c) = &u.corpus_lang {
            cells.entry((&u.query_lang, c)).or_default().push(&u.values);
        }
    }
    let cell = |q: usize, c: usize| cells.get(&(p.langs[q].as_str(), p.langs[c].as_str()));
    let matrix = CellMatrix {
        query_langs: query_langs.iter().map(|&l| p.langs[l].clone()).collect(),
        corpus_langs: corpus_langs.iter().map(|&l| p.langs[l].clone()).collect(),
        queries: query_langs
            .iter()
            .map(|&q| corpus_langs.iter().map(|&c| cell(q, c).map_or(0, Vec::len)).collect())
            .collect(),
        metrics: crate::Metric::ALL
            .iter()
            .map(|&m| {
                let rows = query_langs
                    .iter()
                    .map(|&q| {
                        corpus_langs
                            .iter()
                            .map(|&c| cell(q, c).and_then(|v| mean(v.iter().copied())).map(|x| x[m as usize]))
                            .collect()
                    })
                    .collect();
                (m.key().to_owned(), rows)
            })
            .collect(),
    };

    EvalReport {
        format: RESULTS_FORMAT.into(),
        polyret_version: env!("CARGO_PKG_VERSION").into(),
        task_name: p.set.name.clone(),
        model: ModelInfo { name: opts.model_name.clone(), fingerprint: embedder.fingerprint(), dim: embedder.dim() },
        dataset: DatasetInfo {
            name: p.set.name.clone(),
            content_sha256: p.content_digest(),
            languages: p.langs.clone(),
            queries: p.queries.len(),
            documents: p.corpus.docs.len(),
            qrels: p.queries.iter().map(|q| q.qrels.len()).sum(),
        },
        run: RunInfo {
            langs: opts.langs.clone(),
            run_depth: opts.run_depth,
            run_cover: opts.run_cover,
            trec_settings: Setting::ALL.into_iter().filter(|s| trec.contains_key(s.name())).collect(),
            run_tag,
        },
        main_score: scores.get(&Setting::Multilingual).map(|s| s.main_score),
        scores,
        matrix,
        bias: (!pools.is_empty()).then(|| language_bias(pools, &p.langs)),
        evaluation_time: Timings {
            encode_queries_s: q_stats.seconds,
            queries_cached: q_stats.cached,
            encode_corpus_s: d_stats.seconds,
            corpus_cached: d_stats.cached,
            search_s,
            total_s: 0.0,
        },
        files: OutputFiles { trec, ..Default::default() },
    }
}

#[cfg(test)]
mod tests {
    use polyret_ingest::{DocRow, QrelRow, QueryRow};

    use super::*;
    use crate::embed::HashEmbedder;
    use crate::metrics::Metric;

    /// A Tatoeba-like set: `de`–`en` and `fr`–`en` subsets; every sentence is a query and a
    /// document with the same id; its translation is relevant.
    fn bitext() -> EvalSet {
        let pairs = [
            ("deu-eng", "de", "der Hund schläft", "the dog sleeps"),
            ("deu-eng", "de", "ich trinke Wasser", "I drink water"),
            ("deu-eng", "de", "das Haus ist rot", "the house is red"),
            ("fra-eng", "fr", "le chien dort", "the dog sleeps"),
            ("fra-eng", "fr", "je bois de l'eau", "I drink water"),
        ];
        let mut set = EvalSet { name: "toy-bitext".into(), ..Default::default() };
        for (i, (subset, lang, xx, en)) in pairs.iter().enumerate() {
            let ids = [format!("{subset}-{i}-x"), format!("{subset}-{i}-en")];
            for (id, lang, text) in [(&ids[0], *lang, *xx), (&ids[1], "en", *en)] {
                let subset = Some(subset.to_string());
                set.queries.push(QueryRow {
                    qid: id.clone(),
                    lang: lang.into(),
                    text: text.into(),
                    group_id: i.to_string(),
                    subset: subset.clone(),
                });
                set.corpus.push(DocRow {
                    docid: id.clone(),
                    lang: lang.into(),
                    text: text.into(),
                    group_id: i.to_string(),
                    subset,
                });
            }
            set.qrels.push(QrelRow { qid: ids[0].clone(), docid: ids[1].clone(), rel: 1 });
            set.qrels.push(QrelRow { qid: ids[1].clone(), docid: ids[0].clone(), rel: 1 });
        }
        set
    }

    fn cell(r: &EvalReport, q: &str, c: &str) -> Option<f64> {
        let i = r.matrix.query_langs.iter().position(|l| l == q)?;
        let j = r.matrix.corpus_langs.iter().position(|l| l == c)?;
        r.matrix.metric(Metric::Map)[i][j]
    }

    /// Finite vectors whose dot products overflow: every score is infinite.
    struct Overflowing;

    impl Embedder for Overflowing {
        fn fingerprint(&self) -> String {
            "overflowing".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str], _: Role) -> Result<Vec<f32>> {
            Ok(vec![3e38; texts.len() * 2])
        }
    }

    /// An evaluation that fails on a non-finite score leaves neither files nor the folders it
    /// made for them (before, an empty `multilingual/` stayed behind).
    #[test]
    fn a_failed_evaluation_leaves_no_folder_behind() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("eval/model/toy");
        let opts = EvalOptions { out_dir: Some(out.clone()), trec: TrecExport::All, ..EvalOptions::default() };
        let err = evaluate(&Overflowing, &bitext(), &opts).unwrap_err().to_string();
        assert!(err.contains("non-finite"), "{err}");
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            0,
            "{:?}",
            std::fs::read_dir(root.path()).unwrap().collect::<Vec<_>>()
        );
        // An existing output folder stays, and so does what was in it.
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        assert!(evaluate(&Overflowing, &bitext(), &opts).is_err());
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["notes.txt"]);
    }

    #[test]
    fn subsets_restrict_rankings_and_missing_cells_are_absent() {
        let e = evaluate(&HashEmbedder::new(64), &bitext(), &EvalOptions::default()).unwrap();
        let r = &e.report;
        assert_eq!(r.matrix.query_langs, ["de", "en", "fr"]);
        for (q, c) in [("de", "en"), ("en", "de"), ("fr", "en"), ("en", "fr")] {
            assert!(cell(r, q, c).is_some(), "{q}->{c}");
        }
        for (q, c) in [("de", "fr"), ("fr", "de"), ("de", "de"), ("en", "en"), ("fr", "fr")] {
            assert_eq!(cell(r, q, c), None, "{q}->{c}");
        }
        assert!(!r.scores.contains_key(&Setting::Monolingual));
        // Within a subset the pool is {own translation, other pairs of the subset}: the "the dog
        // sleeps" of fra-eng never competes with the one of deu-eng.
        let pool: Vec<&QueryUnit> = e.units.iter().filter(|u| u.setting == Setting::Multilingual).collect();
        assert_eq!(pool.len(), 10);
        assert!(pool.iter().all(|u| u.num_rel == 1));
        // Every measure lies in [0, 1].
        assert!(e.units.iter().all(|u| u.values.iter().all(|v| (0.0..=1.0).contains(v))));
        // The pool share excludes the query's own sentence: a de query's pool has 2 de of 5.
        let bias = r.bias.as_ref().unwrap();
        assert!((bias.by_query_lang["de"].pool_same_lang - 2.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn identical_parallel_texts_score_perfectly() {
        // Every copy of a group has the same text: the relevant documents tie at the top.
        let mut set = EvalSet { name: "same".into(), ..Default::default() };
        for g in 0..4 {
            let text = format!("sentence number {g} about topic {}", g * 7);
            for lang in ["de", "en"] {
                let id = format!("{g}-{lang}");
                set.queries.push(QueryRow {
                    qid: format!("q{id}"),
                    lang: lang.into(),
                    text: text.clone(),
                    group_id: g.to_string(),
                    subset: None,
                });
                set.corpus.push(DocRow {
                    docid: id.clone(),
                    lang: lang.into(),
                    text: text.clone(),
                    group_id: g.to_string(),
                    subset: None,
                });
            }
            for q in ["de", "en"] {
                for d in ["de", "en"] {
                    set.qrels.push(QrelRow { qid: format!("q{g}-{q}"), docid: format!("{g}-{d}"), rel: 1 });
                }
            }
        }
        let e = evaluate(&HashEmbedder::new(256), &set, &EvalOptions::default()).unwrap();
        for s in Setting::ALL {
            assert_eq!(e.report.scores[&s].scores.get(Metric::Map), 1.0, "{s:?}");
        }
        let bias = e.report.bias.unwrap();
        assert_eq!(bias.max_rank_distance, Some(1.0));
    }

    #[test]
    fn language_filter_is_checked_and_applied() {
        let set = bitext();
        let opts = EvalOptions { langs: Some(vec!["de".into(), "xx".into()]), ..Default::default() };
        let err = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap_err().to_string();
        assert!(err.contains("language xx is not in the set"), "{err}");
        let opts = EvalOptions { langs: Some(vec!["de".into(), "en".into()]), ..Default::default() };
        let e = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap();
        assert_eq!(e.report.dataset.languages, ["de", "en"]);
        // Only the subset wholly in the filter remains: deu-eng, not the English side of fra-eng.
        assert_eq!(e.report.dataset.queries, 6);
        assert_eq!(e.report.dataset.documents, 6, "the 6 texts of deu-eng");
        let opts = EvalOptions { langs: Some(vec!["de".into()]), ..Default::default() };
        let err = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap_err().to_string();
        assert!(err.contains("no subset has all its languages in de"), "{err}");
    }

    #[test]
    fn search_selects_languages_as_evaluation_does() {
        let set = bitext();
        let embedder = HashEmbedder::new(8);
        let langs = ["de".to_string(), "en".to_string()];
        let search = crate::CorpusSearch::build(&embedder, &set, Some(&langs), None).unwrap();
        assert_eq!(search.len(), 6, "the 6 texts of deu-eng, not the English side of fra-eng");
        let hits = search.search(&embedder, "der Hund", 10).unwrap();
        assert!(hits.iter().all(|(_, d)| d.subset.as_deref() == Some("deu-eng")));
        assert!(crate::CorpusSearch::build(&embedder, &set, Some(&langs[..1]), None).is_err());
    }

    #[test]
    fn invalid_sets_are_rejected() {
        let mut set = bitext();
        set.qrels.push(QrelRow { qid: "nope".into(), docid: set.corpus[0].docid.clone(), rel: 1 });
        assert!(evaluate(&HashEmbedder::new(8), &set, &EvalOptions::default()).is_err());
        let mut set = bitext();
        set.corpus[0].docid = "has space".into();
        set.qrels.retain(|r| r.docid != "deu-eng-0-x");
        let err = evaluate(&HashEmbedder::new(8), &set, &EvalOptions::default()).unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{err}");
    }

    #[test]
    fn outputs_are_complete_and_stale_runs_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = EvalOptions { trec: TrecExport::All, out_dir: Some(dir.path().into()), ..Default::default() };
        evaluate(&HashEmbedder::new(32), &bitext(), &opts).unwrap();
        for f in ["results.json", "per_query.tsv", "summary.md", "crosslingual/run.trec", "multilingual/qrels.trec"] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.contains("| monolingual | 0 |") && summary.contains("—"), "{summary}");
        opts.trec = TrecExport::Multilingual;
        let e = evaluate(&HashEmbedder::new(32), &bitext(), &opts).unwrap();
        assert!(!dir.path().join("crosslingual/run.trec").exists());
        assert_eq!(e.report.run.trec_settings, [Setting::Multilingual]);
        let leftovers: Vec<_> =
            walk(dir.path()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tmp")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if crate::heatmap::font_path().is_some() {
            assert_eq!(e.report.files.heatmap.as_deref(), Some("heatmap_map.png"));
            let png = std::fs::read(dir.path().join("heatmap_map.png")).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        } else {
            assert!(std::env::var_os("CI").is_none(), "CI must have a font (fonts-dejavu-core)");
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
        out
    }
}

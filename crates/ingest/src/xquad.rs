//! XQuAD (12 languages, SQuAD v1.1 JSON) and XQuAD-R (LAReQA: the same files for 11 of the
//! languages, with official sentence breaks) into
//! - `xquad-pairs`: one row per (question, language): query = question, positive = the
//!   sentence holding the whole answer span, context = the paragraph; split by article;
//! - `xquad-r` / `xquad-r-full`: the LAReQA retrieval task on the 12 test articles / all 48.
//!
//! Both use the XQuAD-R sentence breaks, so training positives and evaluation candidates are
//! cut the same way. Romanian, which has no XQuAD-R file, is cut by [`crate::sentences`].
//! Decisions and counts are recorded in the catalog notes; `docs/data-format.md` explains them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::catalog::{Ingested, Table, TableData, XquadSplit};
use crate::error::{IngestError, Result};
use crate::io::{par_map, read_bytes};
use crate::sentences::split_sentences;
use crate::tables::{DocRow, EvalSet, PairRow, QrelRow, QueryRow};

/// GitHub repository of XQuAD.
pub const XQUAD_REPO: &str = "deepmind/xquad";
/// GitHub repository of XQuAD-R and MLQA-R (LAReQA).
pub const LAREQA_REPO: &str = "google-research-datasets/lareqa";
/// XQuAD languages (file codes are already canonical).
pub const XQUAD_LANGS: [&str; 12] = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"];
/// Languages with an XQuAD-R file: all but Romanian.
pub const XQUAD_R_LANGS: [&str; 11] = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"];
/// Number of held-out articles.
pub const TEST_ARTICLES: usize = 12;
/// Languages on which the Romanian splitter is compared with the XQuAD-R breaks (alphabetic
/// scripts that punctuate like Romanian); the agreement goes into the catalog notes.
const SPLITTER_CHECK_LANGS: [&str; 7] = ["de", "el", "en", "es", "ru", "tr", "vi"];

/// `xquad.LANG.json` in a raw root laid out as `OWNER/REPO/PATH`.
pub fn xquad_path(raw_root: &Path, lang: &str) -> PathBuf {
    raw_root.join(XQUAD_REPO).join(format!("xquad.{lang}.json"))
}

/// `xquad-r/LANG.json` in a raw root laid out as `OWNER/REPO/PATH`.
pub fn xquad_r_path(raw_root: &Path, lang: &str) -> PathBuf {
    raw_root.join(LAREQA_REPO).join("xquad-r").join(format!("{lang}.json"))
}

// SQuAD v1.1 JSON, plus LAReQA's `sentences` / `sentence_breaks`; shared with `crate::mlqa`.
#[derive(Deserialize)]
pub(crate) struct SquadFile {
    pub(crate) data: Vec<Article>,
}

#[derive(Deserialize)]
pub(crate) struct Article {
    pub(crate) title: String,
    pub(crate) paragraphs: Vec<Paragraph>,
}

#[derive(Deserialize)]
pub(crate) struct Paragraph {
    pub(crate) context: String,
    pub(crate) qas: Vec<Qa>,
    #[serde(default)]
    sentences: Option<Vec<String>>,
    #[serde(default)]
    sentence_breaks: Option<Vec<(usize, usize)>>,
}

#[derive(Deserialize)]
pub(crate) struct Qa {
    pub(crate) id: String,
    pub(crate) question: String,
    answers: Vec<Answer>,
}

#[derive(Deserialize)]
struct Answer {
    text: String,
    answer_start: usize,
}

pub(crate) fn parse(path: &Path) -> Result<SquadFile> {
    let bytes = read_bytes(path)?;
    serde_json::from_slice(&bytes).map_err(|e| IngestError::json(path, 0, &e))
}

/// A paragraph cut into sentences, with its questions resolved to sentences.
struct Segmented {
    /// Sentence texts.
    sentences: Vec<String>,
    /// Per question (in file order): index of the sentence holding `answer_start`, and whether
    /// the whole span lies inside that sentence.
    answers: Vec<(usize, bool)>,
}

/// One language of XQuAD, cut into sentences.
struct Language {
    lang: &'static str,
    file: PathBuf,
    /// `[article][paragraph]`.
    paragraphs: Vec<Vec<Segmented>>,
    /// Sentences whose XQuAD-R text differs from the context cut at its break.
    break_text_mismatches: usize,
}

/// The parsed files and the identity of every question, taken from English.
struct Corpus {
    titles: Vec<String>,
    /// `[article][paragraph]` → question ids.
    question_ids: Vec<Vec<Vec<String>>>,
    /// Per language (XQUAD_LANGS order): parsed XQuAD file.
    xquad: Vec<SquadFile>,
}

/// Checks that `file` has the same articles, paragraphs and question ids as the reference.
fn check_parallel(
    file: &Path,
    data: &SquadFile,
    reference: &Path,
    titles: &[String],
    ids: &[Vec<Vec<String>>],
) -> Result<()> {
    let differ = |what: String| {
        IngestError::invalid(
            file,
            None,
            format!("{what}: not as in {} (XQuAD files must be parallel)", reference.display()),
        )
    };
    if data.data.len() != titles.len() {
        return Err(differ(format!("number of articles ({})", data.data.len())));
    }
    for (a, (article, title)) in data.data.iter().zip(titles).enumerate() {
        if &article.title != title {
            return Err(differ(format!("title of article {a} (`{}`)", article.title)));
        }
        if article.paragraphs.len() != ids[a].len() {
            return Err(differ(format!("number of paragraphs of `{title}`")));
        }
        for (p, para) in article.paragraphs.iter().enumerate() {
            if !para.qas.iter().map(|q| &q.id).eq(ids[a][p].iter()) {
                return Err(differ(format!("question ids of `{title}` paragraph {p}")));
            }
        }
    }
    Ok(())
}

/// Code-point offset → byte offset table of a string (one entry per char, plus the end).
pub(crate) fn char_starts(s: &str) -> Vec<usize> {
    s.char_indices().map(|(b, _)| b).chain(std::iter::once(s.len())).collect()
}

/// Resolves each question of `para` to a sentence of `breaks`, verifying the answer span.
pub(crate) fn resolve_answers(
    file: &Path,
    para: &Paragraph,
    breaks: &[(usize, usize)],
    offsets: &[usize],
) -> Result<Vec<(usize, bool)>> {
    let n_chars = offsets.len() - 1;
    para.qas
        .iter()
        .map(|qa| {
            let bad = |message: String| IngestError::BadAnswer { path: file.into(), question: qa.id.clone(), message };
            let answer = qa.answers.first().ok_or_else(|| bad("no answer".into()))?;
            let start = answer.answer_start;
            let len = answer.text.chars().count();
            // Checked: a huge `answer_start` must not wrap around past the check.
            if start.checked_add(len).is_none_or(|end| end > n_chars) {
                return Err(bad(format!(
                    "answer_start {start} + length {len} is beyond the context ({n_chars} characters)"
                )));
            }
            let span = &para.context[offsets[start]..offsets[start + len]];
            if span != answer.text {
                return Err(bad(format!(
                    "context at answer_start {start} reads `{span}`, not the answer `{}`",
                    answer.text
                )));
            }
            let sentence = breaks
                .iter()
                .position(|&(s, e)| s <= start && start < e)
                .ok_or_else(|| bad(format!("answer_start {start} falls between sentences")))?;
            Ok((sentence, start + len <= breaks[sentence].1))
        })
        .collect()
}

/// LAReQA's cut of a paragraph (see [`lareqa_sentences`]).
pub(crate) struct LareqaCut<'p> {
    /// Character spans of the context.
    pub(crate) breaks: &'p [(usize, usize)],
    /// The sentence texts, one per span.
    pub(crate) sentences: &'p [String],
    /// How many sentences differ from the context cut at their break.
    pub(crate) mismatches: usize,
}

/// LAReQA's cut of a paragraph: its `sentences` and `sentence_breaks`, checked to be increasing
/// spans inside the context; `at` words the error.
pub(crate) fn lareqa_sentences<'p>(
    para: &'p Paragraph,
    offsets: &[usize],
    at: impl Fn(&str) -> IngestError,
) -> Result<LareqaCut<'p>> {
    let (Some(breaks), Some(sentences)) = (&para.sentence_breaks, &para.sentences) else {
        return Err(at("no `sentences` / `sentence_breaks`"));
    };
    if breaks.len() != sentences.len() {
        return Err(at("`sentences` and `sentence_breaks` have different lengths"));
    }
    let n = offsets.len() - 1;
    if breaks.iter().any(|&(s, e)| s >= e || e > n) || breaks.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(at("sentence_breaks are not increasing spans inside the context"));
    }
    let mismatches =
        breaks.iter().zip(sentences).filter(|&(&(s, e), t)| &para.context[offsets[s]..offsets[e]] != t).count();
    Ok(LareqaCut { breaks, sentences, mismatches })
}

/// Cuts one language into sentences: XQuAD-R breaks when `xquad_r` is given (after checking
/// that its contexts and questions are XQuAD's), else the rule-based splitter.
fn segment(
    lang: &'static str,
    file: &Path,
    xquad: &SquadFile,
    xquad_r: Option<(&Path, &SquadFile)>,
) -> Result<Language> {
    let mut paragraphs = Vec::with_capacity(xquad.data.len());
    let mut break_text_mismatches = 0;
    for (a, article) in xquad.data.iter().enumerate() {
        let mut out = Vec::with_capacity(article.paragraphs.len());
        for (p, para) in article.paragraphs.iter().enumerate() {
            let offsets = char_starts(&para.context);
            let (breaks, sentences) = match xquad_r {
                Some((r_file, r)) => {
                    let r_para = &r.data[a].paragraphs[p];
                    let at = |what: &str| {
                        IngestError::invalid(r_file, None, format!("article `{}` paragraph {p}: {what}", article.title))
                    };
                    if r_para.context != para.context {
                        return Err(at(&format!("context differs from {}", file.display())));
                    }
                    let cut = lareqa_sentences(r_para, &offsets, at)?;
                    break_text_mismatches += cut.mismatches;
                    (cut.breaks.to_vec(), cut.sentences.to_vec())
                }
                None => {
                    let breaks = split_sentences(&para.context);
                    let sentences =
                        breaks.iter().map(|&(s, e)| para.context[offsets[s]..offsets[e]].to_string()).collect();
                    (breaks, sentences)
                }
            };
            let answers = resolve_answers(file, para, &breaks, &offsets)?;
            out.push(Segmented { sentences, answers });
        }
        paragraphs.push(out);
    }
    Ok(Language { lang, file: file.to_path_buf(), paragraphs, break_text_mismatches })
}

/// Article titles sorted by the hex SHA-256 of the title; the first [`TEST_ARTICLES`] are the
/// test articles. Deterministic, independent of file order, and not correlated with topic.
pub fn split_articles(titles: &[String]) -> XquadSplit {
    let mut keyed: Vec<(String, &String)> =
        titles.iter().map(|t| (hex::encode(Sha256::digest(t.as_bytes())), t)).collect();
    keyed.sort();
    let (test, train) = keyed.split_at(TEST_ARTICLES.min(keyed.len()));
    XquadSplit { train: train.iter().map(|k| k.1.clone()).collect(), test: test.iter().map(|k| k.1.clone()).collect() }
}

/// Share of sentence ends the rule-based splitter has in common with XQuAD-R (Jaccard index
/// over end offsets of every paragraph), per language — how much to trust the Romanian cut.
fn splitter_agreement(files: &[(&'static str, &SquadFile)]) -> Vec<(&'static str, f64)> {
    files
        .iter()
        .filter(|(l, _)| SPLITTER_CHECK_LANGS.contains(l))
        .map(|&(lang, file)| {
            let (mut common, mut union) = (0usize, 0usize);
            for para in file.data.iter().flat_map(|a| &a.paragraphs) {
                let official: std::collections::HashSet<usize> =
                    para.sentence_breaks.iter().flatten().map(|b| b.1).collect();
                let ours: std::collections::HashSet<usize> =
                    split_sentences(&para.context).iter().map(|b| b.1).collect();
                common += official.intersection(&ours).count();
                union += official.union(&ours).count();
            }
            (lang, if union == 0 { 1.0 } else { common as f64 / union as f64 })
        })
        .collect()
}

/// Reads XQuAD and XQuAD-R from a raw root laid out as `OWNER/REPO/PATH` and builds the
/// `xquad-pairs`, `xquad-r` and `xquad-r-full` tables plus the article split.
pub fn ingest(raw_root: &Path) -> Result<Ingested> {
    let xquad_files: Vec<PathBuf> = XQUAD_LANGS.iter().map(|l| xquad_path(raw_root, l)).collect();
    let r_files: Vec<PathBuf> = XQUAD_R_LANGS.iter().map(|l| xquad_r_path(raw_root, l)).collect();
    let all: Vec<PathBuf> = xquad_files.iter().chain(&r_files).cloned().collect();
    let mut parsed = par_map(&all, |p| parse(p)).into_iter().collect::<Result<Vec<_>>>()?;
    let r_parsed = parsed.split_off(xquad_files.len());
    let corpus = {
        let en = XQUAD_LANGS.iter().position(|&l| l == "en").expect("en is an XQuAD language");
        let reference = &parsed[en];
        let titles: Vec<String> = reference.data.iter().map(|a| a.title.clone()).collect();
        let question_ids: Vec<Vec<Vec<String>>> = reference
            .data
            .iter()
            .map(|a| a.paragraphs.iter().map(|p| p.qas.iter().map(|q| q.id.clone()).collect()).collect())
            .collect();
        for (file, data) in xquad_files.iter().zip(&parsed).chain(r_files.iter().zip(&r_parsed)) {
            check_parallel(file, data, &xquad_files[en], &titles, &question_ids)?;
        }
        Corpus { titles, question_ids, xquad: parsed }
    };

    let jobs: Vec<usize> = (0..XQUAD_LANGS.len()).collect();
    let languages = par_map(&jobs, |&i| {
        let lang = XQUAD_LANGS[i];
        let r = XQUAD_R_LANGS.iter().position(|&l| l == lang).map(|j| (r_files[j].as_path(), &r_parsed[j]));
        segment(lang, &xquad_files[i], &corpus.xquad[i], r)
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;

    let split = split_articles(&corpus.titles);
    let is_test: Vec<bool> = corpus.titles.iter().map(|t| split.test.contains(t)).collect();

    let (pairs, failures) = build_pairs(&corpus, &languages, &is_test);
    let official: Vec<&Language> = languages.iter().filter(|l| XQUAD_R_LANGS.contains(&l.lang)).collect();
    let eval_test = build_eval("xquad-r", &corpus, &official, |a| is_test[a]);
    let eval_full = build_eval("xquad-r-full", &corpus, &official, |_| true);

    let agreement = splitter_agreement(&XQUAD_R_LANGS.iter().copied().zip(r_parsed.iter()).collect::<Vec<_>>());
    let notes = pair_notes(raw_root, &languages, &failures, &agreement, &split);
    let eval_notes = |which: &str| {
        vec![
            format!("{which}; queries: every question in each of the 11 XQuAD-R languages (qid `<question id>.<lang>`)"),
            "corpus: every XQuAD-R sentence of those articles in each language (docid `<lang>.<article>.<paragraph>.<sentence>`, article = index in the XQuAD file, group_id `<article>.<paragraph>`)".to_string(),
            "qrels: for each query, the sentence holding answer_start in each of the 11 languages (LAReQA); one sentence may answer several questions".to_string(),
        ]
    };
    Ok(Ingested {
        tables: vec![
            Table { name: "xquad-pairs".into(), data: TableData::Pairs(pairs), notes },
            Table {
                name: "xquad-r".into(),
                data: TableData::Eval(eval_test),
                notes: eval_notes(&format!("the {TEST_ARTICLES} test articles of xquad_split")),
            },
            Table {
                name: "xquad-r-full".into(),
                data: TableData::Eval(eval_full),
                notes: eval_notes(&format!("all {} articles", corpus.titles.len())),
            },
        ],
        xquad_split: Some(split),
    })
}

/// Pairs rows in (article, paragraph, question, language) order, and per-language counts of
/// questions dropped because the answer span crosses a sentence break.
fn build_pairs(
    corpus: &Corpus,
    languages: &[Language],
    is_test: &[bool],
) -> (Vec<PairRow>, BTreeMap<&'static str, usize>) {
    let mut rows = Vec::new();
    let mut failures: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (a, article_ids) in corpus.question_ids.iter().enumerate() {
        let split = if is_test[a] { "test" } else { "train" };
        for (p, ids) in article_ids.iter().enumerate() {
            for (k, qid) in ids.iter().enumerate() {
                for (language, xquad) in languages.iter().zip(&corpus.xquad) {
                    let para = &xquad.data[a].paragraphs[p];
                    let seg = &language.paragraphs[a][p];
                    let (sentence, whole) = seg.answers[k];
                    if !whole {
                        *failures.entry(language.lang).or_default() += 1;
                        tracing::debug!(question = %qid, lang = language.lang, "answer span crosses a sentence break");
                        continue;
                    }
                    rows.push(PairRow {
                        group_id: qid.clone(),
                        query_lang: language.lang.to_string(),
                        query: para.qas[k].question.trim().to_string(),
                        positive_lang: language.lang.to_string(),
                        positive: seg.sentences[sentence].clone(),
                        negative: None,
                        context: Some(para.context.clone()),
                        split: split.to_string(),
                        source: "xquad".to_string(),
                    });
                }
            }
        }
    }
    (rows, failures)
}

/// The LAReQA retrieval set over the articles `keep` selects.
fn build_eval(name: &str, corpus: &Corpus, languages: &[&Language], keep: impl Fn(usize) -> bool) -> EvalSet {
    let mut set = EvalSet { name: name.to_string(), ..Default::default() };
    let langs_of = |i: usize| &corpus.xquad[XQUAD_LANGS.iter().position(|&l| l == languages[i].lang).expect("known")];
    for (a, article_ids) in corpus.question_ids.iter().enumerate().filter(|&(a, _)| keep(a)) {
        for (p, ids) in article_ids.iter().enumerate() {
            for (i, language) in languages.iter().enumerate() {
                let seg = &language.paragraphs[a][p];
                set.corpus.extend(seg.sentences.iter().enumerate().map(|(s, text)| DocRow {
                    docid: format!("{}.{a}.{p}.{s}", language.lang),
                    lang: language.lang.to_string(),
                    text: text.clone(),
                    group_id: format!("{a}.{p}"),
                    subset: None,
                }));
                let para = &langs_of(i).data[a].paragraphs[p];
                for (k, qid) in ids.iter().enumerate() {
                    let query_id = format!("{qid}.{}", language.lang);
                    set.queries.push(QueryRow {
                        qid: query_id.clone(),
                        lang: language.lang.to_string(),
                        text: para.qas[k].question.trim().to_string(),
                        group_id: qid.clone(),
                        subset: None,
                    });
                    set.qrels.extend(languages.iter().map(|target| QrelRow {
                        qid: query_id.clone(),
                        docid: format!("{}.{a}.{p}.{}", target.lang, target.paragraphs[a][p].answers[k].0),
                        rel: 1,
                    }));
                }
            }
        }
    }
    set
}

fn pair_notes(
    raw_root: &Path,
    languages: &[Language],
    failures: &BTreeMap<&'static str, usize>,
    agreement: &[(&'static str, f64)],
    split: &XquadSplit,
) -> Vec<String> {
    let questions: usize =
        languages.first().map_or(0, |l| l.paragraphs.iter().flatten().map(|p| p.answers.len()).sum());
    let total: usize = failures.values().sum();
    let per_lang = languages
        .iter()
        .map(|l| format!("{} {}", l.lang, failures.get(l.lang).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut notes = vec![
        format!("one row per (question, language): {} languages x {questions} questions minus {total} dropped", languages.len()),
        format!("dropped because the answer span crosses a sentence break: {per_lang}"),
        "positive = the sentence holding the whole answer span; sentences from XQuAD-R `sentences`/`sentence_breaks` (XQuAD-R contexts and question ids verified equal to XQuAD's)".to_string(),
        format!(
            "ro has no XQuAD-R file: cut by polyret's rule-based splitter; its sentence ends agree with XQuAD-R's (Jaccard) on {}",
            agreement.iter().map(|(l, a)| format!("{l} {:.1}%", a * 100.0)).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "split by article: titles sorted by sha256(title), first {} = test ({} train / {} test articles, see xquad_split)",
            TEST_ARTICLES,
            split.train.len(),
            split.test.len()
        ),
    ];
    for l in languages.iter().filter(|l| l.break_text_mismatches > 0) {
        notes.push(format!(
            "{}: {} XQuAD-R sentences differ from the context cut at their sentence_breaks (mojibake in the upstream context); the `sentences` text is used ({})",
            l.lang,
            l.break_text_mismatches,
            l.file.strip_prefix(raw_root).unwrap_or(&l.file).display()
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_sized() {
        let titles: Vec<String> = (0..48).map(|i| format!("Article_{i}")).collect();
        let a = split_articles(&titles);
        let mut reversed = titles.clone();
        reversed.reverse();
        assert_eq!(a, split_articles(&reversed));
        assert_eq!((a.train.len(), a.test.len()), (36, 12));
        assert!(a.test.iter().all(|t| !a.train.contains(t)));
    }

    #[test]
    fn char_offsets_are_scalar_values() {
        let s = "aé漢b";
        assert_eq!(char_starts(s), vec![0, 1, 3, 6, 7]);
    }
}

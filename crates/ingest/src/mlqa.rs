//! MLQA-R (LAReQA): the MLQA dev split in 7 languages with LAReQA's sentence breaks, as the
//! `mlqa-r` retrieval set. Built as LAReQA §3.1 and as [`crate::xquad`] builds XQuAD-R: every
//! sentence of every context is a candidate, and a question's relevant candidates are the
//! sentences holding its answer in every language in which the question (same `id`) exists.
//!
//! Unlike XQuAD, the languages do not share contexts: each file has its own articles, and a
//! question exists in 2 to 4 of the languages, so it has 2 to 4 relevant candidates. The files
//! are SQuAD v1.1 JSON read with the XQuAD-R reader's parser and checks. Counts are recorded
//! in the catalog notes; `docs/data-format.md` explains them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::catalog::{Ingested, Table, TableData};
use crate::error::{IngestError, Line, Result};
use crate::io::par_map;
use crate::tables::{DocRow, EvalSet, QrelRow, QueryRow};
use crate::xquad::{LAREQA_REPO, char_starts, lareqa_sentences, parse, resolve_answers};

/// Name of the table (and of the dataset).
pub const MLQA_R_TABLE: &str = "mlqa-r";
/// MLQA-R languages (file codes are already canonical).
pub const MLQA_R_LANGS: [&str; 7] = ["ar", "de", "en", "es", "hi", "vi", "zh"];
/// The data's license (`mlqa-r/LICENSE`), unlike XQuAD-R's CC BY-SA 4.0.
pub const MLQA_R_LICENSE: &str = "CC BY-NC 4.0";

/// `mlqa-r/LANG.json` in a raw root laid out as `OWNER/REPO/PATH`.
pub fn mlqa_r_path(raw_root: &Path, lang: &str) -> PathBuf {
    raw_root.join(LAREQA_REPO).join("mlqa-r").join(format!("{lang}.json"))
}

/// A question of one language, resolved to the candidate holding its answer.
struct Question {
    /// MLQA question id, shared by the translations of the question.
    id: String,
    text: String,
    /// Docid of the sentence holding `answer_start`.
    answer: String,
}

/// One language file, cut into candidates.
struct Language {
    lang: &'static str,
    /// Every sentence of every paragraph, in file order.
    candidates: Vec<DocRow>,
    /// In file order.
    questions: Vec<Question>,
    /// Answer spans that run past the end of the sentence holding their start.
    crossing: usize,
    /// Sentences whose text differs from the context cut at their break.
    break_text_mismatches: usize,
}

/// Reads and checks one language file: LAReQA's sentences, answers that spell their span,
/// unique non-empty question ids, non-empty questions and sentences.
fn read_language(lang: &'static str, file: &Path) -> Result<Language> {
    let squad = parse(file)?;
    let mut out =
        Language { lang, candidates: Vec::new(), questions: Vec::new(), crossing: 0, break_text_mismatches: 0 };
    let mut ids = HashSet::new();
    for (a, article) in squad.data.iter().enumerate() {
        for (p, para) in article.paragraphs.iter().enumerate() {
            let at = |what: &str| {
                IngestError::invalid(file, None, format!("article `{}` paragraph {p}: {what}", article.title))
            };
            let offsets = char_starts(&para.context);
            let cut = lareqa_sentences(para, &offsets, at)?;
            out.break_text_mismatches += cut.mismatches;
            if let Some(s) = cut.sentences.iter().position(|t| t.trim().is_empty()) {
                return Err(at(&format!("sentence {s} is empty")));
            }
            let docid = |s: usize| format!("{lang}.{a}.{p}.{s}");
            let answers = resolve_answers(file, para, cut.breaks, &offsets)?;
            for (qa, (sentence, whole)) in para.qas.iter().zip(answers) {
                if qa.id.trim().is_empty() {
                    return Err(at("a question has an empty id"));
                }
                if !ids.insert(qa.id.as_str()) {
                    return Err(IngestError::DuplicateId { path: file.into(), line: Line(None), id: qa.id.clone() });
                }
                let text = qa.question.trim();
                if text.is_empty() {
                    return Err(at(&format!("question `{}` is empty", qa.id)));
                }
                out.crossing += usize::from(!whole);
                out.questions.push(Question { id: qa.id.clone(), text: text.to_string(), answer: docid(sentence) });
            }
            out.candidates.extend(cut.sentences.iter().enumerate().map(|(s, text)| DocRow {
                docid: docid(s),
                lang: lang.to_string(),
                text: text.clone(),
                group_id: format!("{lang}.{a}.{p}"),
                subset: None,
            }));
        }
    }
    Ok(out)
}

/// Reads MLQA-R from a raw root laid out as `OWNER/REPO/PATH` and builds the `mlqa-r` table.
pub fn ingest(raw_root: &Path) -> Result<Ingested> {
    let files: Vec<(&'static str, PathBuf)> = MLQA_R_LANGS.iter().map(|&l| (l, mlqa_r_path(raw_root, l))).collect();
    let languages = par_map(&files, |f| read_language(f.0, &f.1)).into_iter().collect::<Result<Vec<_>>>()?;
    let set = build_eval(&languages);
    let notes = notes(&languages);
    Ok(Ingested {
        tables: vec![Table { name: MLQA_R_TABLE.into(), data: TableData::Eval(set), notes }],
        xquad_split: None,
    })
}

/// Question id → the docids of its answer sentence, one per language that has the question, in
/// language order.
fn answers_by_id(languages: &[Language]) -> HashMap<&str, Vec<&str>> {
    let mut answers: HashMap<&str, Vec<&str>> = HashMap::new();
    for q in languages.iter().flat_map(|l| &l.questions) {
        answers.entry(&q.id).or_default().push(&q.answer);
    }
    answers
}

/// The LAReQA retrieval set: queries and candidates language by language, in file order.
fn build_eval(languages: &[Language]) -> EvalSet {
    let answers = answers_by_id(languages);
    let mut set = EvalSet { name: MLQA_R_TABLE.to_string(), ..Default::default() };
    for language in languages {
        set.corpus.extend(language.candidates.iter().cloned());
        for q in &language.questions {
            let qid = format!("{}.{}", q.id, language.lang);
            set.qrels.extend(answers[q.id.as_str()].iter().map(|&docid| QrelRow {
                qid: qid.clone(),
                docid: docid.to_string(),
                rel: 1,
            }));
            set.queries.push(QueryRow {
                qid,
                lang: language.lang.to_string(),
                text: q.text.clone(),
                group_id: q.id.clone(),
                subset: None,
            });
        }
    }
    set
}

fn notes(languages: &[Language]) -> Vec<String> {
    let per_lang = |count: &dyn Fn(&Language) -> usize| {
        languages.iter().map(|l| format!("{} {}", l.lang, count(l))).collect::<Vec<_>>().join(", ")
    };
    let mut spread: BTreeMap<usize, usize> = BTreeMap::new();
    for langs in answers_by_id(languages).values() {
        *spread.entry(langs.len()).or_default() += 1;
    }
    let spread = spread.iter().rev().map(|(k, n)| format!("{n} in {k}")).collect::<Vec<_>>().join(", ");
    let mut notes = vec![
        format!(
            "queries: every question of each language (qid `<question id>.<lang>`, group_id = MLQA question id): {}",
            per_lang(&|l| l.questions.len())
        ),
        format!(
            "corpus: every sentence of every paragraph (docid `<lang>.<article>.<paragraph>.<sentence>`, indices in the language's file, group_id `<lang>.<article>.<paragraph>`): {}",
            per_lang(&|l| l.candidates.len())
        ),
        format!(
            "qrels: for each query, the sentence holding answer_start in every language in which the question id exists (LAReQA); question ids by number of languages: {spread}"
        ),
        format!(
            "answer spans that run past the sentence holding their start (kept, judged by the start as LAReQA does): {}",
            per_lang(&|l| l.crossing)
        ),
        format!("license {MLQA_R_LICENSE} (mlqa-r/LICENSE): non-commercial use only"),
    ];
    for l in languages.iter().filter(|l| l.break_text_mismatches > 0) {
        notes.push(format!(
            "{}: {} sentences differ from the context cut at their sentence_breaks; the `sentences` text is used",
            l.lang, l.break_text_mismatches
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// A valid one-language file: two paragraphs, three questions (one answer crossing a break).
    fn valid() -> Value {
        // Sentences end at `.` or `。`; breaks are character spans, spaces between sentences left out.
        let para = |ctx: &str, qas: Value| {
            let chars: Vec<char> = ctx.chars().collect();
            let mut breaks = vec![];
            let mut start = 0;
            for (i, c) in chars.iter().enumerate() {
                if *c == ' ' && start == i {
                    start = i + 1;
                } else if matches!(c, '.' | '。') {
                    breaks.push((start, i + 1));
                    start = i + 1;
                }
            }
            let sentences: Vec<String> = breaks.iter().map(|&(s, e)| chars[s..e].iter().collect()).collect();
            json!({"context": ctx, "qas": qas, "sentence_breaks": breaks, "sentences": sentences})
        };
        json!({"version": "1.0", "data": [
            {"title": "T0", "paragraphs": [
                para("Früh am Tag. Die Antwort ist 42. Ende.", json!([
                    {"id": "a", "question": "Was?", "answers": [{"text": "42", "answer_start": 29}]},
                    {"id": "b", "question": "Wo?", "answers": [{"text": "42. Ende", "answer_start": 29}]},
                ])),
            ]},
            {"title": "T1", "paragraphs": [
                para("你好。世界。", json!([{"id": "c", "question": "谁?", "answers": [{"text": "世界", "answer_start": 3}]}])),
            ]},
        ]})
    }

    /// Every leaf of a JSON value, as a JSON pointer.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, format!("{at}/{k}"), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| leaves(v, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }

    /// Values a mutated leaf may take: extreme and negative numbers, short strings in several
    /// scripts, and values of the wrong type.
    fn replacement() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            Just(Value::from(u64::MAX)),
            (0u64..64).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z .。é漢]{0,12}".prop_map(Value::from),
            Just(Value::Null),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    /// Reads `bytes` as one language file; never panics, and rows it returns are a valid set.
    fn read_bytes_as_file(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("en.json");
        std::fs::write(&file, bytes).unwrap();
        match read_language("en", &file) {
            Ok(language) => {
                let set = build_eval(std::slice::from_ref(&language));
                prop_assert!(set.validate(&file).is_ok(), "{:?}", set.validate(&file));
            }
            Err(e) => prop_assert!(e.to_string().contains(&file.display().to_string()), "{e}"),
        }
        Ok(())
    }

    #[test]
    fn valid_file_resolves_every_answer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("de.json");
        std::fs::write(&file, valid().to_string()).unwrap();
        let l = read_language("de", &file).unwrap();
        assert_eq!(l.candidates.len(), 5);
        let answers: Vec<&str> = l.questions.iter().map(|q| q.answer.as_str()).collect();
        assert_eq!(answers, ["de.0.0.1", "de.0.0.1", "de.1.0.1"]);
        assert_eq!(l.crossing, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_give_an_error_naming_the_file(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            read_bytes_as_file(&bytes)?;
        }

        #[test]
        fn mutated_fields_give_rows_or_an_error(picks in prop::collection::vec((any::<prop::sample::Index>(), replacement()), 1..4)) {
            let mut doc = valid();
            for (pick, value) in picks {
                let mut paths = Vec::new();
                leaves(&doc, String::new(), &mut paths);
                if paths.is_empty() {
                    break;
                }
                *doc.pointer_mut(&paths[pick.index(paths.len())]).expect("a leaf") = value;
            }
            read_bytes_as_file(doc.to_string().as_bytes())?;
        }

        #[test]
        fn mutated_bytes_give_rows_or_an_error(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
            let mut bytes = valid().to_string().into_bytes();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            read_bytes_as_file(&bytes)?;
        }
    }
}

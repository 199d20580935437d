//! Every reader on small hand-made inputs: the tables it writes, read back through the catalog.

mod common;

use std::path::Path;

use common::*;
use polyret_ingest::{
    CATALOG_FILE, Catalog, Dataset, EvalSet, IngestError, PairRow, XquadSplit, read_jsonl_pairs, read_parallel_dir,
};
use sha2::{Digest, Sha256};

/// Ingests `dataset` from `raw` into a fresh catalog under `out`, then loads it from disk.
fn ingest_into(dataset: Dataset, raw: &Path, out: &Path) -> Catalog {
    let mut catalog = Catalog::load_or_new(&out.join(CATALOG_FILE)).unwrap();
    let ingested = dataset.ingest(raw).unwrap_or_else(|e| panic!("{e}"));
    let names = catalog.publish(&ingested, &[], Some("stamp")).unwrap();
    assert_eq!(names, dataset.tables());
    Catalog::load(&out.join(CATALOG_FILE)).unwrap()
}

/// The article split `docs/data-format.md` documents: titles sorted by the hex SHA-256 of the
/// title, the first 12 are the test articles.
fn split_articles(titles: &[String]) -> XquadSplit {
    let mut keyed: Vec<(String, &String)> = titles.iter().map(|t| (hex::encode(Sha256::digest(t)), t)).collect();
    keyed.sort();
    let (test, train) = keyed.split_at(12.min(keyed.len()));
    XquadSplit { train: train.iter().map(|k| k.1.clone()).collect(), test: test.iter().map(|k| k.1.clone()).collect() }
}

fn qrels_of<'a>(set: &'a EvalSet, qid: &str) -> Vec<&'a str> {
    set.qrels.iter().filter(|r| r.qid == qid).map(|r| r.docid.as_str()).collect()
}

#[test]
fn xquad_pairs_use_the_answer_sentence_and_drop_crossing_spans() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |_, _, _| {});
    let catalog = ingest_into(Dataset::Xquad, dir.path(), &dir.path().join("out"));

    let pairs = catalog.read_pairs("xquad-pairs").unwrap();
    // 14 articles x 2 questions x 12 languages, minus the 14 German spans that cross a break.
    assert_eq!(pairs.len(), 14 * 2 * 12 - 14);
    assert!(!pairs.iter().any(|r| r.query_lang == "de" && r.group_id.ends_with('b')));
    let row = pairs.iter().find(|r| r.group_id == "q3a" && r.query_lang == "en").unwrap();
    assert_eq!(
        row,
        &PairRow {
            group_id: "q3a".into(),
            query_lang: "en".into(),
            query: "What is 3 in en?".into(),
            positive_lang: "en".into(),
            positive: "The answer is 33 here.".into(),
            negative: None,
            context: Some(context("en", 3)),
            split: row.split.clone(),
            source: "xquad".into(),
        }
    );
    // Romanian is cut by the rule-based splitter, with the same result on this text.
    let ro = pairs.iter().find(|r| r.group_id == "q5b" && r.query_lang == "ro").unwrap();
    assert_eq!(ro.positive, "Final words.");

    let split = split_articles(&titles());
    assert_eq!(catalog.xquad_split.as_ref(), Some(&split));
    for r in &pairs {
        let article = r.group_id[1..r.group_id.len() - 1].parse::<usize>().unwrap();
        let expected = if split.test.contains(&titles()[article]) { "test" } else { "train" };
        assert_eq!(r.split, expected, "{}", r.group_id);
    }
    let notes = &catalog.table("xquad-pairs").unwrap().notes;
    assert!(notes.iter().any(|n| n.contains("de 14") && n.contains("en 0")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("minus 14 dropped")), "{notes:?}");
}

#[test]
fn xquad_r_links_each_question_to_its_sentence_in_every_language() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |_, _, _| {});
    let catalog = ingest_into(Dataset::Xquad, dir.path(), &dir.path().join("out"));

    let full = catalog.read_eval_set("xquad-r-full").unwrap();
    assert_eq!(full.name, "xquad-r-full");
    assert_eq!((full.queries.len(), full.corpus.len(), full.qrels.len()), (14 * 2 * 11, 14 * 3 * 11, 14 * 2 * 11 * 11));
    assert!(!full.languages().contains(&"ro".to_string()));
    // The German span crosses into the third sentence; LAReQA takes the sentence of its start.
    let q = qrels_of(&full, "q0b.es");
    assert_eq!(q.len(), 11);
    assert!(q.contains(&"de.0.0.1") && q.contains(&"en.0.0.2") && q.contains(&"es.0.0.2"), "{q:?}");
    let doc = full.corpus.iter().find(|d| d.docid == "zh.2.0.1").unwrap();
    assert_eq!((doc.text.as_str(), doc.group_id.as_str()), ("The answer is 22 here.", "2.0"));

    let test = catalog.read_eval_set("xquad-r").unwrap();
    assert_eq!(test.queries.len(), 12 * 2 * 11, "only the 12 test articles");
    let split = catalog.xquad_split.clone().unwrap();
    for d in &test.corpus {
        let article: usize = d.group_id.split('.').next().unwrap().parse().unwrap();
        assert!(split.test.contains(&titles()[article]));
    }
}

#[test]
fn xquad_records_sentences_that_differ_from_their_breaks() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |lang, is_r, v| {
        if lang == "tr" && is_r {
            v["data"][0]["paragraphs"][0]["sentences"][0] = "Intro tr number zero.".into();
        }
    });
    let catalog = ingest_into(Dataset::Xquad, dir.path(), &dir.path().join("out"));
    let notes = &catalog.table("xquad-pairs").unwrap().notes;
    assert!(notes.iter().any(|n| n.starts_with("tr: 1 XQuAD-R sentences differ")), "{notes:?}");
    let full = catalog.read_eval_set("xquad-r-full").unwrap();
    assert_eq!(full.corpus.iter().find(|d| d.docid == "tr.0.0.0").unwrap().text, "Intro tr number zero.");
}

#[test]
fn mlqa_r_links_each_question_to_its_answer_in_every_language_that_has_it() {
    let dir = tempfile::tempdir().unwrap();
    write_mlqa_r(dir.path(), |_, _| {});
    let catalog = ingest_into(Dataset::MlqaR, dir.path(), &dir.path().join("out"));
    let set = catalog.read_eval_set("mlqa-r").unwrap();
    assert_eq!(set.languages(), MLQA_R_LANGS);
    // English: 3 articles of 3 sentences and a paragraph without questions; the others 1 article.
    assert_eq!((set.queries.len(), set.corpus.len()), (3 + 6, 12 + 6 * 3));
    assert_eq!(set.qrels.len(), 4 * 4 + 2 * 2 + 3 * 3);
    assert_eq!(qrels_of(&set, "q1.zh"), ["ar.0.0.1", "de.0.0.1", "en.0.0.1", "zh.0.0.1"]);
    assert_eq!(qrels_of(&set, "q2.en"), ["en.1.0.1", "es.0.0.1"]);
    assert_eq!(qrels_of(&set, "q3.vi"), ["en.2.0.1", "hi.0.0.1", "vi.0.0.1"]);
    let q = set.queries.iter().find(|q| q.qid == "q3.hi").unwrap();
    assert_eq!((q.lang.as_str(), q.text.as_str(), q.group_id.as_str()), ("hi", "Where is q3 in hi?", "q3"));
    let doc = set.corpus.iter().find(|d| d.docid == "en.0.1.2").unwrap();
    assert_eq!((doc.text.as_str(), doc.group_id.as_str()), ("Three of them.", "en.0.1"));

    let notes = &catalog.table("mlqa-r").unwrap().notes;
    assert!(notes.iter().any(|n| n.contains("ar 1, de 1, en 3, es 1, hi 1, vi 1, zh 1")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("1 in 4, 1 in 3, 1 in 2")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("run past") && n.contains("de 1, en 0")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("CC BY-NC 4.0")), "{notes:?}");
}

#[test]
fn multi30k_pairs_and_caption_sets() {
    let dir = tempfile::tempdir().unwrap();
    write_multi30k(dir.path());
    let catalog = ingest_into(Dataset::Multi30k, dir.path(), &dir.path().join("out"));

    let pairs = catalog.read_pairs("multi30k-pairs").unwrap();
    assert_eq!(pairs.len(), (3 + 2) * 2);
    let r = &pairs[0];
    assert_eq!(
        (r.group_id.as_str(), r.query_lang.as_str(), r.query.as_str(), r.positive.as_str(), r.split.as_str()),
        ("train0", "en", "train 0 caption 1 en", "train 0 caption 2 en", "train")
    );
    assert_eq!(pairs.iter().filter(|r| r.split == "val").count(), 4);

    let t16 = catalog.read_eval_set("multi30k-test_2016").unwrap();
    assert_eq!((t16.queries.len(), t16.corpus.len(), t16.qrels.len()), (8, 8, 2 * 4 * 3));
    assert_eq!(t16.corpus[0].text, "test_2016_flickr one en", "CR stripped");
    assert_eq!(qrels_of(&t16, "100.cs"), vec!["100.en", "100.de", "100.fr"]);
    assert!(t16.queries.iter().all(|q| t16.corpus.iter().any(|d| d.docid == q.qid)), "qid == docid");
    let coco = catalog.read_eval_set("multi30k-test_2017_mscoco").unwrap();
    assert_eq!(coco.corpus[0].group_id, "COCO_val2014_1");
    assert_eq!(catalog.table("multi30k-test_2018").unwrap().languages, ["cs", "de", "en", "fr"]);
}

#[test]
fn xflickrco_drops_empty_captions_and_accepts_numeric_ids() {
    let dir = tempfile::tempdir().unwrap();
    write_xflickrco(dir.path());
    let catalog = ingest_into(Dataset::XflickrCo, dir.path(), &dir.path().join("out"));
    let set = catalog.read_eval_set("xflickrco").unwrap();
    assert_eq!(set.corpus.len(), 3 * 8 - 1);
    assert_eq!(set.qrels.len(), 8 * 7 + 7 * 6 + 8 * 7);
    assert!(set.corpus.iter().any(|d| d.docid == "42.en"));
    assert!(!set.corpus.iter().any(|d| d.docid == "42.de"));
    let notes = &catalog.table("xflickrco").unwrap().notes;
    assert!(
        notes
            .iter()
            .any(|n| n
                .contains("1 empty texts dropped: 42.de (e-bug/iglue/datasets/xFlickrCO/annotations/de/test.jsonl:2)")),
        "{notes:?}"
    );
}

#[test]
fn tatoeba_has_one_subset_per_pair() {
    let dir = tempfile::tempdir().unwrap();
    write_tatoeba(dir.path());
    let catalog = ingest_into(Dataset::Tatoeba, dir.path(), &dir.path().join("out"));
    let set = catalog.read_eval_set("tatoeba").unwrap();
    assert_eq!(set.languages(), ["de", "en", "zh"]);
    assert_eq!(set.corpus.len(), 6);
    assert_eq!(qrels_of(&set, "deu-eng.2.de"), ["deu-eng.2.en"]);
    assert_eq!(qrels_of(&set, "cmn-eng.1.en"), ["cmn-eng.1.zh"]);
    let en = set.corpus.iter().find(|d| d.docid == "cmn-eng.1.en").unwrap();
    assert_eq!((en.subset.as_deref(), en.text.as_str()), (Some("cmn-eng"), "Hello."));
}

#[test]
fn catalog_replaces_entries_and_checks_kinds() {
    let dir = tempfile::tempdir().unwrap();
    write_tatoeba(dir.path());
    let out = dir.path().join("out");
    ingest_into(Dataset::Tatoeba, dir.path(), &out);
    let catalog = ingest_into(Dataset::Tatoeba, dir.path(), &out);
    assert_eq!(catalog.tables.len(), 1);
    let entry = catalog.table("tatoeba").unwrap();
    assert!(catalog.files_intact(entry));
    assert_eq!(entry.paths["qrels"], "tatoeba/qrels.parquet");
    assert!(matches!(catalog.read_pairs("tatoeba"), Err(IngestError::Invalid { .. })));
    let e = catalog.read_eval_set("nope").unwrap_err().to_string();
    assert!(e.contains("no table named `nope` (known: tatoeba)"), "{e}");
    // A changed file no longer counts as intact.
    std::fs::write(out.join("tatoeba/corpus.parquet"), b"x").unwrap();
    assert!(!catalog.files_intact(entry));
}

#[test]
fn jsonl_pairs_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.jsonl");
    write(
        &path,
        br#"{"query": " q1 ", "positive": "p1", "query_lang": "eng", "positive_lang": "deu", "extra": 1}

{"query": "q2", "positive": "p2", "negative": "n2", "query_lang": "en", "positive_lang": "en", "group_id": 7}
"#,
    );
    let table = read_jsonl_pairs(&path, "mine").unwrap();
    let polyret_ingest::TableData::Pairs(rows) = &table.data else { panic!("pairs expected") };
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].group_id.as_str(), rows[0].query.as_str(), rows[0].positive_lang.as_str()), ("1", "q1", "de"));
    assert_eq!((rows[1].group_id.as_str(), rows[1].negative.as_deref()), ("7", Some("n2")));
    assert_eq!((rows[1].split.as_str(), rows[1].source.as_str()), ("train", "jsonl:mine.jsonl"));
}

#[test]
fn parallel_folder_becomes_a_caption_style_set() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deu.txt"), "eins\nzwei\n".as_bytes());
    write(&dir.path().join("en.txt"), b"one\ntwo\n");
    write(&dir.path().join("notes.md"), b"ignored");
    let table = read_parallel_dir(dir.path(), "numbers").unwrap();
    let polyret_ingest::TableData::Eval(set) = &table.data else { panic!("eval expected") };
    assert_eq!(set.corpus.iter().map(|d| d.docid.as_str()).collect::<Vec<_>>(), ["1.de", "2.de", "1.en", "2.en"]);
    assert_eq!(qrels_of(set, "2.en"), ["2.de"]);
}

//! Bad input gives an error that names the file (and the line where there is one), and no
//! output is left behind. One test per kind of mistake.

mod common;

use std::path::Path;

use common::*;
use polyret_ingest::{
    Dataset, DocRow, EvalSet, IngestError, Line, PairRow, QrelRow, QueryRow, read_jsonl_pairs, read_pairs,
    read_parallel_dir, write_eval_set, write_pairs,
};
use serde_json::json;

fn jsonl_error(content: &[u8]) -> (IngestError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.jsonl");
    write(&path, content);
    let e = read_jsonl_pairs(&path, "pairs").unwrap_err();
    let shown = e.to_string().replace(&dir.path().display().to_string(), "DIR");
    (e, shown)
}

const GOOD_LINE: &str = r#"{"query": "q", "positive": "p", "query_lang": "en", "positive_lang": "de"}"#;

#[test]
fn malformed_json_names_line_and_column() {
    let (e, shown) = jsonl_error(format!("{GOOD_LINE}\n{GOOD_LINE}\n{{\"query\": \"q\",, }}\n").as_bytes());
    assert!(matches!(e, IngestError::Json { line: 3, column: 15, .. }), "{e:?}");
    assert!(shown.starts_with("DIR/pairs.jsonl:3:15: malformed JSON: key must be a string"), "{shown}");
}

#[test]
fn missing_field_is_named() {
    let (_, shown) = jsonl_error(
        format!("{GOOD_LINE}\n{{\"query\": \"q\", \"query_lang\": \"en\", \"positive_lang\": \"en\"}}\n").as_bytes(),
    );
    assert!(shown.starts_with("DIR/pairs.jsonl:2:") && shown.contains("missing field `positive`"), "{shown}");
}

#[test]
fn unknown_language_code_names_file_and_line() {
    let (e, shown) = jsonl_error(format!("{GOOD_LINE}\n{}\n", GOOD_LINE.replace("\"de\"", "\"xx\"")).as_bytes());
    assert!(matches!(e, IngestError::UnknownLanguage { line: Line(Some(2)), .. }));
    assert_eq!(shown, "DIR/pairs.jsonl:2: unknown language code `xx`");
}

#[test]
fn empty_file_is_an_error() {
    let (e, shown) = jsonl_error(b"");
    assert!(matches!(e, IngestError::EmptyFile { .. }));
    assert_eq!(shown, "DIR/pairs.jsonl: file is empty");
    let (_, shown) = jsonl_error(b"\n  \n");
    assert_eq!(shown, "DIR/pairs.jsonl: file is empty", "only blank lines");
}

#[test]
fn empty_query_names_the_field() {
    let (_, shown) = jsonl_error(GOOD_LINE.replace("\"q\"", "\"  \"").as_bytes());
    assert_eq!(shown, "DIR/pairs.jsonl:1: empty text in `query`");
}

#[test]
fn truncated_gzip_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_multi30k(dir.path());
    let victim = dir.path().join("multi30k/dataset/data/task2/raw/val.2.de.gz");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() - 12]).unwrap();
    let e = Dataset::Multi30k.ingest(dir.path()).unwrap_err();
    assert!(matches!(&e, IngestError::Gzip { path, .. } if path == &victim), "{e}");
    assert!(e.to_string().contains("val.2.de.gz: truncated or corrupt gzip data"), "{e}");
}

#[test]
fn duplicate_image_id_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_multi30k(dir.path());
    let ids = dir.path().join("multi30k/dataset/data/task1/image_splits/test_2017_flickr.txt");
    std::fs::write(&ids, "100.jpg\n100.jpg\n").unwrap();
    let e = Dataset::Multi30k.ingest(dir.path()).unwrap_err();
    assert!(
        matches!(&e, IngestError::DuplicateId { path, line: Line(Some(2)), id } if path == &ids && id == "100"),
        "{e}"
    );
}

#[test]
fn ragged_caption_file_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write_multi30k(dir.path());
    let de = dir.path().join("multi30k/dataset/data/task1/raw/test_2016_flickr.de.gz");
    write_gz(&de, "only one line\n");
    let e = Dataset::Multi30k.ingest(dir.path()).unwrap_err().to_string();
    assert!(e.contains("test_2016_flickr.de.gz: 1 lines, but ") && e.ends_with("test_2016_flickr.txt has 2"), "{e}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_tatoeba(dir.path());
    let eng = dir.path().join("facebookresearch/LASER/data/tatoeba/v1/tatoeba.deu-eng.eng");
    std::fs::write(&eng, b"Hello world.\nGood \xe9 day.\n").unwrap();
    let e = Dataset::Tatoeba.ingest(dir.path()).unwrap_err();
    assert!(matches!(&e, IngestError::Utf8 { path, line: Line(Some(2)) } if path == &eng), "{e}");
}

#[test]
fn unknown_tatoeba_language_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_tatoeba(dir.path());
    let d = dir.path().join("facebookresearch/LASER/data/tatoeba/v1");
    write(&d.join("tatoeba.qqq-eng.qqq"), b"x\n");
    write(&d.join("tatoeba.qqq-eng.eng"), b"y\n");
    let e = Dataset::Tatoeba.ingest(dir.path()).unwrap_err();
    assert!(
        matches!(&e, IngestError::UnknownLanguage { path, code, .. } if path.ends_with("tatoeba.qqq-eng.qqq") && code == "qqq"),
        "{e}"
    );
}

#[test]
fn xflickrco_bad_line_is_located() {
    let dir = tempfile::tempdir().unwrap();
    write_xflickrco(dir.path());
    let ja = dir.path().join("e-bug/iglue/datasets/xFlickrCO/annotations/ja/test.jsonl");
    let mut text = std::fs::read_to_string(&ja).unwrap();
    text.push_str("{\"sentences\": [\"a\", \"b\"], \"id\": \"9\"}\n{\"sentences\": [\"a\"]}\n");
    std::fs::write(&ja, &text).unwrap();
    let e = Dataset::XflickrCo.ingest(dir.path()).unwrap_err().to_string();
    assert!(e.ends_with("ja/test.jsonl:5: expected exactly one caption in `sentences`, found 2"), "{e}");
    std::fs::write(&ja, text.replace("{\"sentences\": [\"a\", \"b\"], \"id\": \"9\"}\n", "")).unwrap();
    let e = Dataset::XflickrCo.ingest(dir.path()).unwrap_err().to_string();
    assert!(e.contains("ja/test.jsonl:5:") && e.contains("missing field `id`"), "{e}");
}

#[test]
fn answer_start_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |lang, is_r, v| {
        if lang == "el" && !is_r {
            v["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = json!(5000);
        }
    });
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err();
    assert!(
        matches!(&e, IngestError::BadAnswer { path, question, .. } if path == &xquad_file(dir.path(), "el") && question == "q1a"),
        "{e}"
    );
    assert!(e.to_string().contains("answer_start 5000 + length 2 is beyond the context"), "{e}");
}

#[test]
fn answer_text_must_match_the_span() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |lang, is_r, v| {
        if lang == "ro" && !is_r {
            v["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["text"] = json!("Finnl");
        }
    });
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("xquad.ro.json: question q0b: context at answer_start") && e.contains("not the answer `Finnl`"),
        "{e}"
    );
}

#[test]
fn xquad_files_must_be_parallel() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |lang, is_r, v| {
        if lang == "hi" && !is_r {
            v["data"][4]["paragraphs"][0]["qas"][1]["id"] = json!("other");
        }
    });
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err().to_string();
    assert!(e.contains("xquad.hi.json: question ids of `Article_4` paragraph 0: not as in"), "{e}");
}

#[test]
fn xquad_r_context_must_equal_xquad() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |lang, is_r, v| {
        if lang == "vi" && is_r {
            v["data"][2]["paragraphs"][0]["context"] = json!(context("vi", 2).replace("Final", "Last"));
        }
    });
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err().to_string();
    assert!(e.contains("xquad-r/vi.json: article `Article_2` paragraph 0: context differs from"), "{e}");
}

#[test]
fn malformed_xquad_json_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    write_xquad(dir.path(), |_, _, _| {});
    let th = xquad_file(dir.path(), "th");
    std::fs::write(&th, "{\"data\": [\n  {\"title\": 3}\n]}").unwrap();
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err();
    assert!(matches!(&e, IngestError::Json { path, line: 2, .. } if path == &th), "{e}");
    std::fs::remove_file(&th).unwrap();
    let e = Dataset::Xquad.ingest(dir.path()).unwrap_err();
    assert!(matches!(&e, IngestError::MissingFile { path } if path == &th), "{e}");
    assert!(e.to_string().ends_with("xquad.th.json: file not found"));
}

#[test]
fn mlqa_r_mistakes_name_the_file() {
    let error = |edit: &dyn Fn(&mut serde_json::Value)| {
        let dir = tempfile::tempdir().unwrap();
        write_mlqa_r(dir.path(), |lang, v| {
            if lang == "es" {
                edit(v)
            }
        });
        let e = Dataset::MlqaR.ingest(dir.path()).unwrap_err();
        let shown = e.to_string().replace(&mlqa_r_file(dir.path(), "es").display().to_string(), "ES");
        (e, shown)
    };
    let (e, shown) = error(&|v| v["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = json!(70));
    assert!(matches!(&e, IngestError::BadAnswer { question, .. } if question == "q2"), "{e}");
    assert_eq!(shown, "ES: question q2: answer_start 70 + length 4 is beyond the context (50 characters)");
    let (_, shown) =
        error(&|v| v["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = json!(u64::MAX));
    assert!(shown.starts_with("ES: question q2: answer_start 18446744073709551615 + length 4 is beyond"), "{shown}");
    let (_, shown) = error(&|v| v["data"][0]["paragraphs"][0]["sentence_breaks"][1] = json!([5, 2]));
    assert_eq!(
        shown,
        "ES: article `es article 0` paragraph 0: sentence_breaks are not increasing spans inside the context"
    );
    let (_, shown) = error(&|v| {
        v["data"][0]["paragraphs"][0].as_object_mut().unwrap().remove("sentences");
    });
    assert_eq!(shown, "ES: article `es article 0` paragraph 0: no `sentences` / `sentence_breaks`");
    let (_, shown) = error(&|v| v["data"][0]["paragraphs"][0]["sentences"][2] = json!(" "));
    assert_eq!(shown, "ES: article `es article 0` paragraph 0: sentence 2 is empty");
    let (_, shown) = error(&|v| v["data"][0]["paragraphs"][0]["qas"][0]["question"] = json!(""));
    assert_eq!(shown, "ES: article `es article 0` paragraph 0: question `q2` is empty");
    let (e, shown) = error(&|v| {
        let article = v["data"][0].clone();
        v["data"].as_array_mut().unwrap().push(article);
    });
    assert!(matches!(&e, IngestError::DuplicateId { id, .. } if id == "q2"), "{e}");
    assert_eq!(shown, "ES: duplicate id `q2`");
    let (e, shown) = error(&|v| v["data"][0]["paragraphs"][0]["qas"][0]["answers"] = json!("q2q2"));
    assert!(matches!(&e, IngestError::Json { line: 1, .. }), "{e}");
    assert!(shown.starts_with("ES:1:") && shown.contains("malformed JSON: invalid type: string \"q2q2\""), "{shown}");
}

#[test]
fn parallel_folder_mistakes() {
    let check = |files: &[(&str, &str)], expected: &str| {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            write(&dir.path().join(name), text.as_bytes());
        }
        let e = read_parallel_dir(dir.path(), "set").unwrap_err();
        let shown = e.to_string().replace(&dir.path().display().to_string(), "DIR");
        assert_eq!(shown, expected);
    };
    check(&[("en.txt", "a\nb\n"), ("klingon.txt", "c\nd\n")], "DIR/klingon.txt: unknown language code `klingon`");
    check(&[("en.txt", "a\nb\n"), ("fr.txt", "c\n")], "DIR/fr.txt: 1 lines, but DIR/en.txt has 2");
    check(&[("en.txt", "a\n\nc\n"), ("fr.txt", "d\ne\nf\n")], "DIR/en.txt:2: empty text");
    check(&[("en.txt", "a\n"), ("fr.txt", "")], "DIR/fr.txt: file is empty");
    check(&[("en.txt", "a\n")], "DIR: a parallel set needs at least two LANG.txt files, found 1");
    check(&[("de.txt", "a\n"), ("deu.txt", "b\n")], "DIR/deu.txt: duplicate id `language `de` (also DIR/de.txt)`");
}

fn pair(lang: &str) -> PairRow {
    PairRow {
        group_id: "g".into(),
        query_lang: lang.into(),
        query: "q".into(),
        positive_lang: "en".into(),
        positive: "p".into(),
        negative: None,
        context: None,
        split: "train".into(),
        source: "test".into(),
    }
}

#[test]
fn invalid_rows_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t/pairs.parquet");
    let e = write_pairs(&path, &[pair("en"), pair("deu")]).unwrap_err().to_string();
    assert!(e.ends_with("t/pairs.parquet: row 2: query_lang `deu` is not a canonical language code"), "{e}");
    assert!(!path.exists());

    let text =
        |id: &str| QueryRow { qid: id.into(), lang: "en".into(), text: "t".into(), group_id: "g".into(), subset: None };
    let doc =
        |id: &str| DocRow { docid: id.into(), lang: "en".into(), text: "t".into(), group_id: "g".into(), subset: None };
    let qrel = |q: &str, d: &str| QrelRow { qid: q.into(), docid: d.into(), rel: 1 };
    let set_dir = dir.path().join("set");
    for (set, message) in [
        (EvalSet { name: "s".into(), queries: vec![text("a"), text("a")], ..Default::default() }, "duplicate id `a`"),
        (
            EvalSet { name: "s".into(), queries: vec![text("a")], corpus: vec![doc("b")], qrels: vec![qrel("a", "c")] },
            "qrel 1: unknown docid `c`",
        ),
        (
            EvalSet { name: "s".into(), queries: vec![text("a")], corpus: vec![doc("a")], qrels: vec![qrel("a", "a")] },
            "qrel 1: `a` judged relevant to itself",
        ),
    ] {
        let e = write_eval_set(&set_dir, &set).unwrap_err().to_string();
        assert!(e.ends_with(message), "{e}");
        assert!(!set_dir.exists(), "nothing written for {message}");
    }
}

#[test]
fn parquet_without_a_column_is_a_schema_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.parquet");
    // A valid eval table is not a pairs table.
    let set = EvalSet {
        name: "s".into(),
        queries: vec![QueryRow {
            qid: "a".into(),
            lang: "en".into(),
            text: "t".into(),
            group_id: "g".into(),
            subset: None,
        }],
        ..Default::default()
    };
    write_eval_set(dir.path(), &set).unwrap();
    std::fs::rename(dir.path().join("queries.parquet"), &path).unwrap();
    let e = read_pairs(&path).unwrap_err();
    assert!(matches!(&e, IngestError::Schema { path: p, .. } if p == &path), "{e}");
    assert!(e.to_string().ends_with("pairs.parquet: missing column `query_lang`"), "{e}");
    std::fs::write(&path, b"not parquet").unwrap();
    assert!(matches!(read_pairs(&path), Err(IngestError::Parquet { .. })));
    assert!(matches!(read_pairs(Path::new("/nonexistent/p.parquet")), Err(IngestError::MissingFile { .. })));
}

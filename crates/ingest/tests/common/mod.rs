//! Small hand-made stand-ins for the upstream files, written into a temporary raw root laid out
//! as `OWNER/REPO/PATH`. Each builder returns the values the tests then look for.

#![allow(dead_code)] // Each test file uses a different subset.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const XQUAD_LANGS: [&str; 12] = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"];

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn write_gz(path: &Path, text: &str) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    write(path, &enc.finish().unwrap());
}

/// Article titles of the mini XQuAD: 14, so that 12 are test and 2 train.
pub fn titles() -> Vec<String> {
    (0..14).map(|i| format!("Article_{i}")).collect()
}

/// The context of article `a` in `lang`: three sentences, the answer `"{a}{a}"` in the second.
pub fn context(lang: &str, a: usize) -> String {
    format!("Intro {lang} number {a}. The answer is {a}{a} here. Final words.")
}

/// Char offsets of the three sentences of [`context`].
fn breaks(ctx: &str) -> Vec<(usize, usize)> {
    let c: Vec<char> = ctx.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, ch) in c.iter().enumerate() {
        if *ch == '.' {
            out.push((start, i + 1));
            start = i + 2;
        }
    }
    out
}

/// Adds LAReQA's `sentence_breaks` and `sentences` to a paragraph whose context is cut by
/// [`breaks`].
fn add_sentences(para: &mut Value) {
    let ctx = para["context"].as_str().unwrap().to_string();
    let b = breaks(&ctx);
    let c: Vec<char> = ctx.chars().collect();
    para["sentence_breaks"] = json!(b.iter().map(|&(s, e)| [s, e]).collect::<Vec<_>>());
    para["sentences"] = json!(b.iter().map(|&(s, e)| c[s..e].iter().collect::<String>()).collect::<Vec<_>>());
}

/// Char offset of `part` in `ctx`.
fn char_start(ctx: &str, part: &str) -> usize {
    ctx[..ctx.find(part).unwrap()].chars().count()
}

/// One SQuAD file: per article one paragraph with two questions — q0 answered inside the
/// second sentence, q1 whose answer span crosses from the second into the third sentence in
/// German only (`"here. Final"`), else lies in the third.
pub fn squad(lang: &str, with_breaks: bool) -> Value {
    let data: Vec<Value> = titles()
        .iter()
        .enumerate()
        .map(|(a, title)| {
            let ctx = context(lang, a);
            let q0 = format!("{a}{a}");
            let q1 = if lang == "de" { "here. Final".to_string() } else { "Final".to_string() };
            let start = |ans: &str| char_start(&ctx, ans);
            let mut para = json!({
                "context": ctx,
                "qas": [
                    {"id": format!("q{a}a"), "question": format!(" What is {a} in {lang}? "), "answers": [{"text": q0, "answer_start": start(&q0)}]},
                    {"id": format!("q{a}b"), "question": format!("Which words end {a} in {lang}?"), "answers": [{"text": q1, "answer_start": start(&q1)}]},
                ],
            });
            if with_breaks {
                add_sentences(&mut para);
            }
            json!({"title": title, "paragraphs": [para]})
        })
        .collect();
    json!({"version": "1.1", "data": data})
}

/// Writes the 12 XQuAD files and 11 XQuAD-R files; `edit(lang, is_xquad_r, value)` may change
/// a file before it is written.
pub fn write_xquad(root: &Path, edit: impl Fn(&str, bool, &mut Value)) {
    for lang in XQUAD_LANGS {
        let mut v = squad(lang, false);
        edit(lang, false, &mut v);
        write(&root.join(format!("deepmind/xquad/xquad.{lang}.json")), v.to_string().as_bytes());
        if lang != "ro" {
            let mut r = squad(lang, true);
            edit(lang, true, &mut r);
            write(&root.join(format!("google-research-datasets/lareqa/xquad-r/{lang}.json")), r.to_string().as_bytes());
        }
    }
}

pub fn xquad_file(root: &Path, lang: &str) -> PathBuf {
    root.join(format!("deepmind/xquad/xquad.{lang}.json"))
}

pub const MLQA_R_LANGS: [&str; 7] = ["ar", "de", "en", "es", "hi", "vi", "zh"];

/// The MLQA-R questions each language has: q1 in 4 languages, q2 in 2, q3 in 3; English has all.
pub fn mlqa_r_questions(lang: &str) -> Vec<&'static str> {
    ["q1", "q2", "q3"]
        .into_iter()
        .filter(|q| match *q {
            "q1" => ["ar", "de", "en", "zh"].contains(&lang),
            "q2" => ["en", "es"].contains(&lang),
            _ => ["en", "hi", "vi"].contains(&lang),
        })
        .collect()
}

/// One MLQA-R file: one article per question of [`mlqa_r_questions`], each a paragraph of three
/// sentences with the answer `"{q}{q}"` in the second; in German the answer runs on into the
/// third (`"q1q1 here. Final"`). English's first article has a second paragraph, without
/// questions.
pub fn mlqa_r(lang: &str) -> Value {
    let data: Vec<Value> = mlqa_r_questions(lang)
        .into_iter()
        .enumerate()
        .map(|(a, q)| {
            let ctx = format!("Intro {lang} {q}. The answer is {q}{q} here. Final words.");
            let answer = if lang == "de" { format!("{q}{q} here. Final") } else { format!("{q}{q}") };
            let qa = json!({"id": q, "question": format!(" Where is {q} in {lang}? "), "answers": [{"text": answer, "answer_start": char_start(&ctx, &answer)}]});
            let mut paragraphs = vec![json!({"context": ctx, "qas": [qa]})];
            if lang == "en" && a == 0 {
                paragraphs.push(json!({"context": "No questions here. Only candidates. Three of them.", "qas": []}));
            }
            paragraphs.iter_mut().for_each(add_sentences);
            json!({"title": format!("{lang} article {a}"), "paragraphs": paragraphs})
        })
        .collect();
    json!({"version": "1.0", "data": data})
}

/// Writes the 7 MLQA-R files; `edit(lang, value)` may change a file before it is written.
pub fn write_mlqa_r(root: &Path, edit: impl Fn(&str, &mut Value)) {
    for lang in MLQA_R_LANGS {
        let mut v = mlqa_r(lang);
        edit(lang, &mut v);
        write(&mlqa_r_file(root, lang), v.to_string().as_bytes());
    }
}

pub fn mlqa_r_file(root: &Path, lang: &str) -> PathBuf {
    root.join(format!("google-research-datasets/lareqa/mlqa-r/{lang}.json"))
}

/// Multi30K: task2 train (3 images) and val (2 images) with captions 1 and 2 in en/de; task1
/// test splits with 2 images (test_2016 with cs, test_2017_mscoco with `#` ids).
pub fn write_multi30k(root: &Path) {
    let d = root.join("multi30k/dataset/data");
    for (split, n) in [("train", 3), ("val", 2)] {
        let ids: String = (0..n).map(|i| format!("{split}{i}.jpg\n")).collect();
        write(&d.join(format!("task2/image_splits/{split}_images.txt")), ids.as_bytes());
        for lang in ["en", "de"] {
            for k in 1..=2 {
                let lines: String = (0..n).map(|i| format!("{split} {i} caption {k} {lang}\n")).collect();
                write_gz(&d.join(format!("task2/raw/{split}.{k}.{lang}.gz")), &lines);
            }
        }
    }
    for (stem, langs) in [
        ("test_2016_flickr", &["en", "de", "fr", "cs"][..]),
        ("test_2017_flickr", &["en", "de", "fr"][..]),
        ("test_2017_mscoco", &["en", "de", "fr"][..]),
        ("test_2018_flickr", &["en", "de", "fr", "cs"][..]),
    ] {
        let ids = if stem.contains("mscoco") {
            "COCO_val2014_1.jpg#11\nCOCO_val2014_2.jpg#22\n"
        } else {
            "100.jpg\n200.jpg\n"
        };
        write(&d.join(format!("task1/image_splits/{stem}.txt")), ids.as_bytes());
        for lang in langs {
            write_gz(
                &d.join(format!("task1/raw/{stem}.{lang}.gz")),
                &format!("{stem} one {lang}\r\n{stem} two {lang}\n"),
            );
        }
    }
}

/// xFlickr&CO: 3 images in each of the 8 languages (a blank line between the 2nd and 3rd);
/// the COCO one has a numeric id, and its German caption is empty.
pub fn write_xflickrco(root: &Path) {
    for lang in ["de", "en", "es", "id", "ja", "ru", "tr", "zh"] {
        let cat = if lang == "de" { String::new() } else { format!("cat {lang}") };
        let text = format!(
            "{}\n{}\n\n{}\n",
            json!({"sentences": [format!("dog {lang}")], "id": "1000", "img_path": "1000.jpg"}),
            json!({"sentences": [cat], "id": 42, "img_path": "COCO_val2014_000000000042.jpg"}),
            json!({"sentences": [format!("bird {lang}")], "id": "3000", "img_path": "3000.jpg"}),
        );
        write(&root.join(format!("e-bug/iglue/datasets/xFlickrCO/annotations/{lang}/test.jsonl")), text.as_bytes());
    }
}

/// Tatoeba: `deu-eng` (2 lines) and `cmn-eng` (1 line), plus the README that is not a pair.
pub fn write_tatoeba(root: &Path) {
    let d = root.join("facebookresearch/LASER/data/tatoeba/v1");
    write(&d.join("README.md"), b"test sets\n");
    write(&d.join("tatoeba.deu-eng.deu"), "Hallo Welt.\nGuten Tag.\n".as_bytes());
    write(&d.join("tatoeba.deu-eng.eng"), b"Hello world.\nGood day.\n");
    write(&d.join("tatoeba.cmn-eng.cmn"), "你好。\n".as_bytes());
    write(&d.join("tatoeba.cmn-eng.eng"), b"Hello.\n");
}

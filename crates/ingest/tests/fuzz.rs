//! Fuzz targets of the readers: JSONL pairs, folders of parallel files, XQuAD/XQuAD-R JSON. Each
//! reader gets inputs generated around a valid one (fields of any JSON type, broken lines, byte
//! soup) and must return an error, never panic; what it accepts must also be writable (the
//! writers validate again). 256 cases per target by default (XQuAD: 48); run longer by hand, e.g.
//! `PROPTEST_CASES=20000 cargo test --release -p polyret-ingest --test fuzz`.

mod common;

use polyret_ingest::{Dataset, Ingested, Table, language_files, read_jsonl_pairs, read_parallel_dir};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, a few levels deep, with the numbers and strings readers trip on.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(1.5), Just(-0.0), Just(1e300), any::<f64>()].prop_map(|f| json!(f)),
        prop_oneof![
            Just(String::new()),
            Just(" ".to_string()),
            Just("en".to_string()),
            "\\PC{0,12}".prop_map(String::from)
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Checks what a reader accepted the way publishing would: it must write.
fn accepted(table: Table) {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = polyret_ingest::Catalog::load_or_new(&dir.path().join("catalog.json")).unwrap();
    catalog.publish(&Ingested { tables: vec![table], xquad_split: None }, &[], None).expect("an accepted table writes");
}

/// A JSONL line: a valid record with some fields replaced, or junk.
fn jsonl_line() -> impl Strategy<Value = String> {
    let record = (
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "query",
                    "positive",
                    "negative",
                    "query_lang",
                    "positive_lang",
                    "group_id",
                    "x",
                ]),
                json_value(),
            ),
            0..3,
        ),
        prop::sample::select(vec!["en", "de", "deu", "EN", "xx", ""]),
        prop::option::of(prop_oneof![Just(json!("g")), Just(json!(1)), Just(json!(1.5)), Just(json!(null))]),
    )
        .prop_map(|(edits, lang, group)| {
            let mut r =
                json!({"query": "a question", "positive": "an answer", "query_lang": "en", "positive_lang": lang});
            if let Some(g) = group {
                r["group_id"] = g;
            }
            for (field, value) in edits {
                r[field] = value;
            }
            r.to_string()
        });
    prop_oneof![
        4 => record,
        1 => json_value().prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec!["", "  ", "[", "]", "{", "{\"query\":", "\u{feff}{}", "null"]).prop_map(String::from),
        1 => "\\PC{0,40}".prop_map(String::from),
    ]
}

proptest! {
    #[test]
    fn jsonl_pairs_reader_never_panics(
        lines in prop::collection::vec(jsonl_line(), 0..6),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        raw in prop::option::weighted(0.1, prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        let mut body = if bom { "\u{feff}".to_string() } else { String::new() };
        body.push_str(&lines.join(if crlf { "\r\n" } else { "\n" }));
        std::fs::write(&path, raw.unwrap_or_else(|| body.into_bytes())).unwrap();
        if let Ok(table) = read_jsonl_pairs(&path, "pairs") {
            accepted(table);
        }
    }

    #[test]
    fn parallel_folder_reader_never_panics(
        files in prop::collection::vec(
            (
                prop::sample::select(vec!["en.txt", "de.txt", "fr.txt.gz", "deu.txt", "EN.txt", "xx.txt", "notes.md", ".txt", "de-DE.txt"]),
                prop::collection::vec(prop_oneof![Just(String::new()), Just("  ".to_string()), "\\PC{0,16}".prop_map(String::from)], 0..5),
                any::<bool>(),
            ),
            0..4,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("set");
        std::fs::create_dir_all(&folder).unwrap();
        for (name, lines, trailing_newline) in files {
            let mut text = lines.join("\n");
            if trailing_newline {
                text.push('\n');
            }
            let path = folder.join(name);
            if name.ends_with(".gz") {
                common::write_gz(&path, &text);
            } else {
                std::fs::write(&path, text).unwrap();
            }
        }
        let listed = language_files(&folder);
        if let (Ok(_), Ok(table)) = (listed, read_parallel_dir(&folder, "set")) {
            accepted(table);
        }
    }

}

proptest! {
    // 23 files per case: fewer cases by default (about 4 s); PROPTEST_CASES still rules.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn xquad_reader_never_panics(
        edits in prop::collection::vec(
            (0..common::XQUAD_LANGS.len(), any::<bool>(), prop::collection::vec(any::<prop::sample::Index>(), 0..6), prop::option::of(json_value())),
            1..4,
        ),
        truncate in prop::option::weighted(0.05, (0..common::XQUAD_LANGS.len(), any::<prop::sample::Index>())),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path();
        common::write_xquad(raw, |lang, is_r, value| {
            for (l, r, path, replacement) in &edits {
                if common::XQUAD_LANGS[*l] == lang && *r == is_r {
                    edit_at(value, path, replacement.clone());
                }
            }
        });
        if let Some((l, at)) = truncate {
            let file = common::xquad_file(raw, common::XQUAD_LANGS[l]);
            let bytes = std::fs::read(&file).unwrap();
            std::fs::write(&file, &bytes[..at.index(bytes.len() + 1)]).unwrap();
        }
        if let Ok(ingested) = Dataset::Xquad.ingest(raw) {
            for table in ingested.tables {
                accepted(table);
            }
        }
    }
}

/// Walks down `value` choosing a child at each step of `path`, then replaces that node
/// (`None`: removes it from its parent).
fn edit_at(value: &mut Value, path: &[prop::sample::Index], replacement: Option<Value>) {
    let remove = path.len() == 1 && replacement.is_none();
    match (path.split_first(), value) {
        (Some((step, rest)), Value::Array(items)) if !items.is_empty() => {
            let i = step.index(items.len());
            if remove {
                items.remove(i);
            } else {
                edit_at(&mut items[i], rest, replacement);
            }
        }
        (Some((step, rest)), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(step.index(map.len())).cloned().expect("in range");
            if remove {
                map.remove(&key);
            } else {
                edit_at(map.get_mut(&key).expect("present"), rest, replacement);
            }
        }
        (_, node) => *node = replacement.unwrap_or(Value::Null),
    }
}

#[test]
fn the_unedited_fixtures_are_accepted() {
    // The generators start from valid input: without edits, every reader accepts it.
    let dir = tempfile::tempdir().unwrap();
    common::write_xquad(dir.path(), |_, _, _| {});
    assert!(Dataset::Xquad.ingest(dir.path()).is_ok());
    let path = dir.path().join("p.jsonl");
    std::fs::write(
        &path,
        json!({"query": "q", "positive": "p", "query_lang": "en", "positive_lang": "de"}).to_string(),
    )
    .unwrap();
    accepted(read_jsonl_pairs(&path, "p").unwrap());
}

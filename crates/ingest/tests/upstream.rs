//! Readers on the real upstream files: the counts `docs/data-format.md` states. The files are
//! read from `POLYRET_DATA_MIRROR`, `data/raw` (after `cargo xtask fetch-data`) or the mirror
//! at `../shared/data`, all laid out as `OWNER/REPO/PATH`. Without them a test is skipped with
//! the reason printed, and fails under CI (env `CI` set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polyret_ingest::{Dataset, TableData};

/// MLQA-R's languages, each a file `mlqa-r/LANG.json` of the LAReQA repository.
const MLQA_R_LANGS: [&str; 7] = ["ar", "de", "en", "es", "hi", "vi", "zh"];

fn mlqa_r_path(raw_root: &Path, lang: &str) -> PathBuf {
    raw_root.join(format!("google-research-datasets/lareqa/mlqa-r/{lang}.json"))
}

/// The first raw root for which `has` holds; `None` (after saying why) when there is none.
fn raw_root(what: &str, has: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let roots: Vec<PathBuf> = std::env::var_os("POLYRET_DATA_MIRROR")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo.join("data/raw"), repo.join("../shared/data")])
        .collect();
    let found = roots.iter().find(|r| has(r)).cloned();
    if found.is_none() {
        let tried = roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ");
        let msg = format!("{what} is in none of {tried}: run `cargo xtask fetch-data` first");
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

#[test]
fn mlqa_r_counts_match_the_lareqa_readme() {
    let Some(raw) = raw_root("MLQA-R", |r| MLQA_R_LANGS.iter().all(|l| mlqa_r_path(r, l).is_file())) else {
        return;
    };
    let ingested = Dataset::MlqaR.ingest(&raw).unwrap_or_else(|e| panic!("{e}"));
    let table = &ingested.tables[0];
    let TableData::Eval(set) = &table.data else { panic!("mlqa-r is an evaluation set") };
    set.validate(Path::new("mlqa-r")).unwrap();

    let per_lang = |langs: Vec<&str>| {
        let mut n: BTreeMap<String, usize> = BTreeMap::new();
        langs.into_iter().for_each(|l| *n.entry(l.to_string()).or_default() += 1);
        n
    };
    let queries = per_lang(set.queries.iter().map(|q| q.lang.as_str()).collect());
    let corpus = per_lang(set.corpus.iter().map(|d| d.lang.as_str()).collect());
    // The LAReQA README at 354d67d: questions / candidates per language.
    let readme = [
        ("ar", 517, 2545),
        ("de", 512, 2362),
        ("en", 1148, 6264),
        ("es", 500, 1787),
        ("hi", 507, 2426),
        ("vi", 511, 2828),
        ("zh", 504, 2322),
    ];
    for (lang, questions, candidates) in readme {
        assert_eq!((queries[lang], corpus[lang]), (questions, candidates), "{lang}: questions / candidates");
    }
    assert_eq!(queries.len() + corpus.len(), 2 * readme.len(), "no other language");

    // 1148 question ids (English has them all): 820 in 4 languages, 263 in 3, 65 in 2; each
    // query is judged against its answer sentence in each of its question's languages.
    assert_eq!(set.qrels.len(), 820 * 4 * 4 + 263 * 3 * 3 + 65 * 2 * 2);
    let notes = &table.notes;
    assert!(notes.iter().any(|n| n.ends_with("820 in 4, 263 in 3, 65 in 2")), "{notes:?}");
    assert!(notes.iter().any(|n| n.ends_with("ar 3, de 8, en 2, es 5, hi 3, vi 1, zh 3")), "{notes:?}");
}

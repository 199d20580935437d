//! Shared by the integration tests of `trainer` and `polyret-train`: the tiny BERT fixture
//! with a word-level tokenizer written here, and synthetic parallel data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use polyret_ingest::PairRow;

const LANGS: [&str; 3] = ["en", "de", "fr"];
const GROUPS: usize = 24;

/// A model directory: tiny BERT weights (vocab 1000) and a word-level tokenizer over the
/// synthetic words.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../encoder/tests/fixtures/tiny-bert");
    let model = dir.join("tiny-bert");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(file), model.join(file)).unwrap();
    }
    let mut vocab = serde_json::Map::new();
    for (i, token) in ["[PAD]", "[CLS]", "[SEP]", "[UNK]"].iter().enumerate() {
        vocab.insert(token.to_string(), i.into());
    }
    for word in 0..200 {
        for lang in LANGS {
            let id = vocab.len();
            vocab.insert(format!("{lang}{word}"), id.into());
        }
    }
    let special = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false,
        "lstrip": false, "rstrip": false, "normalized": false, "special": true})
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[CLS]"), special(2, "[SEP]"), special(3, "[UNK]")],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}},
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(model.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    model
}

/// Parallel question/answer groups in three "languages" (`en7` in English is `de7` in German).
pub fn pairs(dir: &Path) -> PathBuf {
    let mut rows = Vec::new();
    for g in 0..GROUPS {
        for lang in LANGS {
            let words = |base: usize, n: usize| {
                (0..n).map(|k| format!("{lang}{}", (base + k * 7) % 200)).collect::<Vec<_>>().join(" ")
            };
            rows.push(PairRow {
                group_id: format!("q{g}"),
                query_lang: lang.into(),
                query: words(g, 3 + g % 4),
                positive_lang: lang.into(),
                positive: words(g + 100, 5 + g % 6),
                negative: None,
                context: None,
                split: if g < 18 { "train" } else { "test" }.into(),
                source: "synthetic".into(),
            });
        }
    }
    let path = dir.join("pairs.parquet");
    polyret_ingest::write_pairs(&path, &rows).unwrap();
    path
}

pub fn config(dir: &Path, steps: u64, checkpoint_every: u64) -> PathBuf {
    let model = tiny_model(dir);
    let data = pairs(dir);
    let text = format!(
        r#"seed = 11
[model]
name = "{}"
max_query_tokens = 16
max_passage_tokens = 16
[data]
sources = ["{}"]
validation_pairs = 6
[sampler]
strategy = "hybrid"
alpha = 0.5
batch_size = 6
[optimizer]
lr = 1e-3
[training]
steps = {steps}
chunk_size = 4
checkpoint_every = {checkpoint_every}
log_every = 1
[eval]
validate_every = 4
"#,
        model.display(),
        data.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

//! The `tokenizer_config.json` that transformers reads beside `tokenizer.json`, and what Polyret
//! writes there so that transformers tokenizes exactly as Polyret does.
//!
//! Polyret tokenizes with `tokenizer.json` as it is. transformers does the same only for the
//! class `PreTrainedTokenizerFast` (in transformers 5 an alias of `TokenizersBackend`); a named
//! class such as `XLMRobertaTokenizer` is rebuilt from transformers' own definition in
//! transformers 5 and can differ: the rebuilt XLM-R tokenizer drops the trailing `▁` piece of a
//! text that ends with a space. So every model directory Polyret writes declares
//! `PreTrainedTokenizerFast`, keeping the special tokens and length of the source's config; a
//! directory that came from elsewhere is loaded as its files say, with one warning when its
//! config and `tokenizer.json` visibly disagree.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::tokenizer::TextTokenizer;

/// The transformers class that loads `tokenizer.json` verbatim.
pub const VERBATIM_TOKENIZER_CLASS: &str = "PreTrainedTokenizerFast";

/// Settings of named classes that `PreTrainedTokenizerFast` would apply on top of
/// `tokenizer.json` (and so change it), or that point at files a verbatim load does not use.
const CLASS_SPECIFIC_KEYS: [&str; 10] = [
    "add_prefix_space",
    "do_lower_case",
    "strip_accents",
    "tokenize_chinese_chars",
    "legacy",
    "sp_model_kwargs",
    "vocab_file",
    "merges_file",
    "tokenizer_file",
    "auto_map",
];

/// Special-token roles transformers knows, with the spellings BERT and SentencePiece
/// vocabularies use for them.
const SPECIAL_ROLES: [(&str, [&str; 2]); 7] = [
    ("bos_token", ["<s>", "[CLS]"]),
    ("eos_token", ["</s>", "[SEP]"]),
    ("unk_token", ["<unk>", "[UNK]"]),
    ("sep_token", ["</s>", "[SEP]"]),
    ("pad_token", ["<pad>", "[PAD]"]),
    ("cls_token", ["<s>", "[CLS]"]),
    ("mask_token", ["<mask>", "[MASK]"]),
];

/// The `tokenizer_config.json` for a directory Polyret writes: `source` (the config beside the
/// tokenizer Polyret used, if any) with its class replaced by [`VERBATIM_TOKENIZER_CLASS`] and
/// the settings only a named class understands removed; special tokens the source does not
/// declare are taken from the tokenizer's own special tokens, so padding works in transformers.
pub fn exported_tokenizer_config(source: Option<&Value>, tokenizer: &TextTokenizer, max_length: usize) -> Value {
    let mut config: Map<String, Value> = source.and_then(Value::as_object).cloned().unwrap_or_default();
    for key in CLASS_SPECIFIC_KEYS {
        config.remove(key);
    }
    config.insert("tokenizer_class".into(), json!(VERBATIM_TOKENIZER_CLASS));
    config.entry("model_max_length").or_insert(json!(max_length));
    for (role, spellings) in SPECIAL_ROLES {
        if config.get(role).is_some_and(|v| !v.is_null()) {
            continue;
        }
        if let Some(token) = spellings.iter().find(|t| tokenizer.is_special_token(t)) {
            config.insert(role.into(), json!(token));
        }
    }
    Value::Object(config)
}

/// Warns once per directory when `tokenizer_config.json` and `tokenizer.json` disagree in a way
/// that makes transformers tokenize differently from Polyret.
pub fn warn_on_disagreement(dir: &Path, tokenizer: &TextTokenizer) {
    static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let config_path = dir.join("tokenizer_config.json");
    let Ok(text) = std::fs::read_to_string(&config_path) else { return };
    let Ok(config) = serde_json::from_str::<Value>(&text) else { return };
    let problems = disagreements(&config, tokenizer);
    if problems.is_empty() {
        return;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.get_or_insert_with(HashSet::new).insert(dir.to_path_buf()) {
        return;
    }
    tracing::warn!(
        "{} and {} disagree: {}; Polyret uses {} as it is (declaring \"tokenizer_class\": \"{}\" makes transformers do the same)",
        config_path.display(),
        tokenizer.path().display(),
        problems.join("; "),
        tokenizer.path().display(),
        VERBATIM_TOKENIZER_CLASS,
    );
}

/// What in `config` contradicts `tokenizer` (empty when nothing detectable does).
pub fn disagreements(config: &Value, tokenizer: &TextTokenizer) -> Vec<String> {
    let mut problems = Vec::new();
    for (role, _) in SPECIAL_ROLES {
        let token = match &config[role] {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("content").and_then(Value::as_str),
            _ => None,
        };
        if let Some(token) = token
            && tokenizer.token_id(token).is_none()
        {
            problems.push(format!("{role} {token:?} is not in the vocabulary"));
        }
    }
    let Some(class) = config["tokenizer_class"].as_str() else { return problems };
    let class = class.strip_suffix("Fast").unwrap_or(class);
    if class == "PreTrainedTokenizer" || class == "TokenizersBackend" {
        return problems;
    }
    let model = tokenizer.model_kind();
    if let Some(expected) = class_model_kind(class)
        && model != expected
    {
        problems.push(format!("{class} is a {expected} tokenizer but tokenizer.json holds a {model} model"));
    }
    if model == "Unigram" && tokenizer.keeps_trailing_space_piece() {
        problems.push(format!(
            "transformers 5 rebuilds {class} and drops the trailing \"▁\" piece that tokenizer.json keeps for \
             texts ending in a space"
        ));
    }
    problems
}

/// The tokenization algorithm of a transformers tokenizer class, for the families Polyret's
/// encoders use.
fn class_model_kind(class: &str) -> Option<&'static str> {
    match class {
        "BertTokenizer" | "DistilBertTokenizer" | "ElectraTokenizer" | "MPNetTokenizer" => Some("WordPiece"),
        "XLMRobertaTokenizer" | "CamembertTokenizer" | "T5Tokenizer" | "AlbertTokenizer" => Some("Unigram"),
        "RobertaTokenizer" | "GPT2Tokenizer" | "BartTokenizer" => Some("BPE"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-word Unigram tokenizer in the XLM-R shape (Metaspace pre-tokenizer, `<s>`/`</s>`).
    fn unigram_tokenizer(dir: &Path) -> TextTokenizer {
        let special = |id: u32, content: &str| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        };
        let tokenizer = json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>")],
            "normalizer": null,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                   "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
            "decoder": null,
            "model": {"type": "Unigram", "unk_id": 3, "byte_fallback": false, "vocab": [
                ["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0],
                ["▁", -2.0], ["▁a", -1.0], ["a", -3.0]]}
        });
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, tokenizer.to_string()).unwrap();
        TextTokenizer::from_file(&path, 32, 1).unwrap()
    }

    #[test]
    fn export_declares_the_verbatim_class_and_keeps_special_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = unigram_tokenizer(dir.path());
        let source = json!({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512,
                            "add_prefix_space": true, "pad_token": "<pad>", "sp_model_kwargs": {}});
        let config = exported_tokenizer_config(Some(&source), &tokenizer, 128);
        assert_eq!(config["tokenizer_class"], VERBATIM_TOKENIZER_CLASS);
        assert_eq!(config["model_max_length"], 512);
        assert_eq!(config["pad_token"], "<pad>");
        assert_eq!(config["cls_token"], "<s>");
        assert_eq!(config["eos_token"], "</s>");
        assert!(config.get("add_prefix_space").is_none() && config.get("sp_model_kwargs").is_none());
        assert!(config.get("mask_token").is_none(), "no <mask> in this vocabulary");
        assert!(disagreements(&config, &tokenizer).is_empty());
    }

    #[test]
    fn export_without_a_source_config_still_names_padding() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = unigram_tokenizer(dir.path());
        let config = exported_tokenizer_config(None, &tokenizer, 128);
        assert_eq!(config["tokenizer_class"], VERBATIM_TOKENIZER_CLASS);
        assert_eq!(config["model_max_length"], 128);
        assert_eq!(config["pad_token"], "<pad>");
    }

    #[test]
    fn rebuilt_xlmr_class_and_wrong_family_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = unigram_tokenizer(dir.path());
        assert!(tokenizer.keeps_trailing_space_piece());
        let xlmr = disagreements(&json!({"tokenizer_class": "XLMRobertaTokenizer"}), &tokenizer);
        assert_eq!(xlmr.len(), 1, "{xlmr:?}");
        assert!(xlmr[0].contains("trailing"), "{xlmr:?}");
        let bert = disagreements(&json!({"tokenizer_class": "BertTokenizerFast", "pad_token": "[PAD]"}), &tokenizer);
        assert!(bert.iter().any(|p| p.contains("WordPiece tokenizer but tokenizer.json holds a Unigram")), "{bert:?}");
        assert!(bert.iter().any(|p| p.contains("pad_token \"[PAD]\"")), "{bert:?}");
    }
}

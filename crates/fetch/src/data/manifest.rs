//! `data/manifest.toml`: every upstream file, pinned to a commit, with its size and sha256.
//! It is the single source of truth for what is downloaded and what a download must hash to.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::FetchError;

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// One entry per upstream repository and commit.
    #[serde(rename = "dataset")]
    pub datasets: Vec<ManifestDataset>,
}

/// The files of one upstream repository at one commit. A repository may have several entries
/// (LAReQA: XQuAD-R and MLQA-R at different commits) as long as their paths differ.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDataset {
    /// Short name (`xquad`, `xquad-r`, `mlqa-r`, `multi30k`, `xflickrco`, `tatoeba`), which
    /// `polyret_ingest::Dataset::manifest_entries` refers to.
    pub name: String,
    /// `OWNER/REPO` on GitHub.
    pub repo: String,
    /// Full 40-hex commit the files are taken at.
    pub commit: String,
    /// License of the data, as stated upstream.
    pub license: String,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// One file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path inside the repository, `/`-separated.
    pub path: String,
    /// Size in bytes (for progress bars; the checksum is what is verified).
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// A file together with the repository entry it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct FileRef<'a> {
    /// Its repository entry.
    pub dataset: &'a ManifestDataset,
    /// The file.
    pub file: &'a ManifestFile,
}

impl FileRef<'_> {
    /// `OWNER/REPO/PATH`: where the file lives under `data/raw` and in a mirror.
    pub fn rel_path(&self) -> String {
        format!("{}/{}", self.dataset.repo, self.file.path)
    }

    /// The file under a root laid out as `OWNER/REPO/PATH`.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.join(&self.dataset.repo);
        p.extend(self.file.path.split('/'));
        p
    }

    /// The upstream address: `BASE/OWNER/REPO/COMMIT/PATH`.
    pub fn url(&self, base: &str) -> String {
        format!("{}/{}/{}/{}", base.trim_end_matches('/'), self.dataset.repo, self.dataset.commit, self.file.path)
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, FetchError> {
        let text = std::fs::read_to_string(path).map_err(|e| FetchError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates manifest text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, FetchError> {
        let bad = |message: String| FetchError::Manifest { path: path.to_path_buf(), message };
        let manifest: Manifest = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut names = HashSet::new();
        let mut files = HashSet::new();
        for d in &manifest.datasets {
            if !names.insert(d.name.as_str()) {
                return Err(bad(format!("dataset `{}` listed twice", d.name)));
            }
            let repo_ok = d.repo.split('/').count() == 2 && d.repo.split('/').all(|p| !p.is_empty() && p != "..");
            if !repo_ok {
                return Err(bad(format!("dataset `{}`: repo `{}` is not OWNER/REPO", d.name, d.repo)));
            }
            if !is_hex(&d.commit, 40) {
                return Err(bad(format!("dataset `{}`: commit `{}` is not a full 40-hex commit", d.name, d.commit)));
            }
            for f in &d.files {
                let path_ok = !f.path.is_empty()
                    && !f.path.starts_with('/')
                    && f.path.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
                if !path_ok {
                    return Err(bad(format!("dataset `{}`: bad file path `{}`", d.name, f.path)));
                }
                if !is_hex(&f.sha256, 64) {
                    return Err(bad(format!(
                        "{}/{}: sha256 `{}` is not 64 lowercase hex digits",
                        d.repo, f.path, f.sha256
                    )));
                }
                if !files.insert(format!("{}/{}", d.repo, f.path)) {
                    return Err(bad(format!("{}/{} listed twice", d.repo, f.path)));
                }
            }
        }
        Ok(manifest)
    }

    /// Every file of the entries named in `entries`, in manifest order.
    pub fn files_of<'a>(&'a self, entries: &'a [&str]) -> impl Iterator<Item = FileRef<'a>> + 'a {
        self.datasets
            .iter()
            .filter(|d| entries.contains(&d.name.as_str()))
            .flat_map(|d| d.files.iter().map(move |file| FileRef { dataset: d, file }))
    }

    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Option<&ManifestDataset> {
        self.datasets.iter().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[dataset]]
name = "x"
repo = "owner/repo"
commit = "0123456789abcdef0123456789abcdef01234567"
license = "MIT"
files = [ { path = "a/b.txt", size = 3, sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" } ]
"#;

    #[test]
    fn parses_and_builds_addresses() {
        let m = Manifest::parse(Path::new("m.toml"), GOOD).unwrap();
        let f = m.files_of(&["x"]).next().unwrap();
        assert_eq!(f.rel_path(), "owner/repo/a/b.txt");
        assert_eq!(
            f.url("https://raw.githubusercontent.com/"),
            "https://raw.githubusercontent.com/owner/repo/0123456789abcdef0123456789abcdef01234567/a/b.txt"
        );
        assert_eq!(f.under(Path::new("/r")), Path::new("/r/owner/repo/a/b.txt"));
    }

    #[test]
    fn rejects_bad_entries() {
        for (from, to) in [
            ("0123456789abcdef0123456789abcdef01234567", "main"),
            ("a/b.txt", "../b.txt"),
            ("owner/repo", "owner"),
            ("ba7816bf", "BA7816BF"),
            ("license = \"MIT\"", "license = \"MIT\"\nextra = 1"),
        ] {
            let text = GOOD.replace(from, to);
            let e = Manifest::parse(Path::new("m.toml"), &text).unwrap_err();
            assert!(e.to_string().starts_with("m.toml: "), "{e}");
        }
        let twice = format!("{GOOD}\n{}", GOOD.replace("name = \"x\"", "name = \"y\""));
        assert!(Manifest::parse(Path::new("m.toml"), &twice).unwrap_err().to_string().contains("listed twice"));
    }
}

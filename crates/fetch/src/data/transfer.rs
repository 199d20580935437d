//! Getting one manifest file into `data/raw/OWNER/REPO/PATH`: already there and intact, copied
//! from a mirror, or downloaded — always streamed through SHA-256 into a temporary and renamed
//! only when the checksum matches, so `data/raw` only ever holds verified files.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use super::manifest::FileRef;
use crate::FetchError;

/// Where missing files come from.
pub(crate) enum Origin<'a> {
    /// A local folder laid out as `OWNER/REPO/PATH`.
    Mirror(&'a Path),
    /// `BASE/OWNER/REPO/COMMIT/PATH` over HTTP(S).
    Web { agent: ureq::Agent, base: &'a str },
    /// Nowhere: a missing file is an error (used by `polyret ingest`).
    Offline,
}

/// How a file ended up in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    Present,
    Copied,
    Downloaded,
}

/// Attempts per download; transport errors and 5xx answers are retried, with 1 s, 2 s pauses.
const ATTEMPTS: u32 = 3;

impl Origin<'_> {
    /// The agent used for downloads: a global timeout per file, and HTTP errors as errors.
    pub(crate) fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .user_agent(concat!("polyret-fetch/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }
}

fn sha256_of(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| FetchError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Puts `file` at its place under `raw_root`, verifying its checksum.
pub(crate) fn acquire(
    file: FileRef<'_>,
    raw_root: &Path,
    origin: &Origin<'_>,
    bar: &ProgressBar,
) -> Result<Acquired, FetchError> {
    let dest = file.under(raw_root);
    let expected = file.file.sha256.as_str();
    if dest.is_file() {
        if sha256_of(&dest)? == expected {
            bar.inc(file.file.size);
            return Ok(Acquired::Present);
        }
        tracing::warn!(file = %dest.display(), "raw file does not match its manifest checksum; fetching it again");
    }
    match origin {
        Origin::Offline => Err(FetchError::MissingRaw { path: dest }),
        Origin::Mirror(mirror) => {
            let src = file.under(mirror);
            let input = File::open(&src).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    FetchError::MissingInMirror { file: file.rel_path(), path: src.clone() }
                }
                _ => FetchError::io(&src, e),
            })?;
            copy_verified(input, &src, &dest, expected, bar)?;
            Ok(Acquired::Copied)
        }
        Origin::Web { agent, base } => {
            let url = file.url(base);
            let mut attempt = 1;
            loop {
                match download(agent, &url, &dest, expected, bar) {
                    Err(Retry::Transient(e)) if attempt < ATTEMPTS => {
                        tracing::warn!(%url, attempt, "download failed, retrying: {e}");
                        std::thread::sleep(Duration::from_secs(u64::from(attempt)));
                        attempt += 1;
                    }
                    Err(Retry::Transient(e) | Retry::Fatal(e)) => return Err(e),
                    Ok(()) => return Ok(Acquired::Downloaded),
                }
            }
        }
    }
}

enum Retry {
    Transient(FetchError),
    Fatal(FetchError),
}

fn download(agent: &ureq::Agent, url: &str, dest: &Path, expected: &str, bar: &ProgressBar) -> Result<(), Retry> {
    let failed = |message: String| FetchError::Download { url: url.to_string(), message };
    let mut response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(code)) if code < 500 => return Err(Retry::Fatal(failed(format!("HTTP {code}")))),
        Err(e) => return Err(Retry::Transient(failed(e.to_string()))),
    };
    let before = bar.position();
    copy_verified(response.body_mut().as_reader(), Path::new(url), dest, expected, bar).map_err(|e| match e {
        // A cut connection shows up as an error reading the body (named by the URL): worth
        // another try, from the start. Local write errors are not retried.
        FetchError::Io { path, source } if path == Path::new(url) => {
            bar.set_position(before);
            Retry::Transient(failed(source.to_string()))
        }
        other => Retry::Fatal(other),
    })
}

/// Streams `input` into `dest` through SHA-256 via a unique temporary next to it
/// ([`polyret_files::AtomicFile`], so concurrent fetches of one file never mix their bytes);
/// renames only on a checksum match. `shown` names the source in errors (the mirror file or
/// the URL).
fn copy_verified(
    mut input: impl Read,
    shown: &Path,
    dest: &Path,
    expected: &str,
    bar: &ProgressBar,
) -> Result<(), FetchError> {
    let mut out = polyret_files::AtomicFile::create(dest)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FetchError::io(shown, e)),
        };
        hasher.update(&buf[..n]);
        out.writer().write_all(&buf[..n]).map_err(|e| FetchError::io(dest, e))?;
        bar.inc(n as u64);
    }
    let actual = hex::encode(hasher.finalize());
    if actual != expected {
        return Err(FetchError::Checksum { path: shown.to_path_buf(), expected: expected.to_string(), actual });
    }
    Ok(out.commit()?)
}

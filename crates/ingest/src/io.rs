//! File helpers shared by every reader and writer: whole-file reads with precise errors
//! (missing, empty, truncated gzip, invalid UTF-8), numbered lines, checksums, and atomic
//! writes (a unique temporary, then rename) so that a crash never leaves a half-written output
//! behind and concurrent writers never mix their bytes.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Line, Result};

/// Reads a whole file; an empty file is an error because no reader here accepts one.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::io(path, e))?;
    if bytes.is_empty() {
        return Err(IngestError::EmptyFile { path: path.to_path_buf() });
    }
    Ok(bytes)
}

/// Reads a text file as UTF-8, decompressing it first when its name ends in `.gz`.
/// A leading byte-order mark is dropped. Text that is empty after decompression is an error.
pub fn read_text(path: &Path) -> Result<String> {
    let raw = read_bytes(path)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| IngestError::Gzip { path: path.to_path_buf(), source })?;
        if out.is_empty() {
            return Err(IngestError::EmptyFile { path: path.to_path_buf() });
        }
        out
    } else {
        raw
    };
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
        IngestError::Utf8 { path: path.to_path_buf(), line: Line(Some(line)) }
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// The lines of a text with their 1-based numbers, without line terminators (`\n` or
/// `\r\n`). A final newline does not start an extra empty line.
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let body = if text.is_empty() { None } else { Some(body) };
    body.into_iter()
        .flat_map(|b| b.split('\n'))
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Reads a line-per-record text file (optionally gzip) into trimmed lines.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = read_text(path)?;
    Ok(numbered_lines(&text).map(|(_, l)| l.trim().to_string()).collect())
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| IngestError::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `path` atomically ([`polyret_files::AtomicFile`]): `write` fills a temporary with a
/// unique name next to it (parent directories are created), which is synced and renamed over
/// `path` only if `write` succeeds; on failure the temporary is removed and `path` is untouched.
pub fn write_atomic<T>(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> Result<T>) -> Result<T> {
    let mut file = polyret_files::AtomicFile::create(path)?;
    let value = write(file.writer())?;
    file.commit()?;
    Ok(value)
}

/// `f` over every item on rayon's pool, results in input order: independent input files are
/// parsed concurrently.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    items.par_iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_handles_terminators() {
        let lines: Vec<_> = numbered_lines("a\r\nb\n\nc\n").collect();
        assert_eq!(lines, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        assert_eq!(numbered_lines("x").collect::<Vec<_>>(), vec![(1, "x")]);
        assert_eq!(numbered_lines("").count(), 0);
    }

    #[test]
    fn utf8_error_reports_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, b"ok\nstill ok\nbad \xff here\n").unwrap();
        let err = read_text(&p).unwrap_err();
        assert!(matches!(err, IngestError::Utf8 { line: Line(Some(3)), .. }), "{err}");
    }

    #[test]
    fn failed_atomic_write_leaves_nothing() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.bin");
        let r: Result<()> = write_atomic(&p, |w| {
            w.write_all(b"partial").unwrap();
            Err(IngestError::invalid("x", None, "boom"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 0, "no target, no temporary");
        write_atomic(&p, |w| w.write_all(b"done").map_err(|e| IngestError::io("x", e))).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"done");
    }

    #[test]
    fn par_map_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(par_map(&items, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
}

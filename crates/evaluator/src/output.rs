//! Atomic output files: everything is written to `NAME.tmp` and renamed over `NAME` only once
//! complete, so an interrupted evaluation never leaves a half-written file behind. Unlike a
//! write-bytes-at-once helper, [`AtomicFile`] streams, which the run files need (they can be
//! large and are written while the search proceeds).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{EvalError, Result};

/// A file being written; dropped without [`AtomicFile::commit`], its temporary is removed.
pub(crate) struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path` (creating its directory) as `path.tmp`.
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        let file = File::create(&tmp).map_err(|e| EvalError::io(&tmp, e))?;
        Ok(Self { path: path.to_owned(), tmp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// The buffered writer; map its errors with [`AtomicFile::check`].
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer is present until commit")
    }

    /// Names the file in an I/O error from [`AtomicFile::writer`].
    pub fn check<T>(&self, r: std::io::Result<T>) -> Result<T> {
        r.map_err(|e| EvalError::io(&self.tmp, e))
    }

    /// Writes all of `bytes`.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let r = self.writer().write_all(bytes);
        self.check(r)
    }

    /// Flushes, syncs and renames the temporary over the final name.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("commit runs once");
        let file = writer.into_inner().map_err(|e| EvalError::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| EvalError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| EvalError::io(&self.path, e))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Best effort: the error that stopped the writing is what the caller reports.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_bytes(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_files_leave_nothing_and_committed_files_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_bytes(b"partial").unwrap();
            assert!(dir.path().join("sub/out.txt.tmp").exists());
        }
        assert!(!path.exists() && !dir.path().join("sub/out.txt.tmp").exists());
        write_file(&path, b"whole").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert!(!dir.path().join("sub/out.txt.tmp").exists());
    }
}

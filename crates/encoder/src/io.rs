//! Atomic file output: a crash never leaves a half-written model behind. The mechanism is
//! `polyret-files` (unique temporaries, staged directories); these wrappers give its errors the
//! encoder's type.

use std::path::Path;

use crate::EncoderError;

/// Writes `bytes` to `path` atomically (a unique temporary next to it, synced, then renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EncoderError> {
    Ok(polyret_files::write_atomic(path, bytes)?)
}

/// Where a new version of directory `dir` is staged: `dir.tmp`.
pub fn tmp_path(dir: &Path) -> std::path::PathBuf {
    polyret_files::staging_path(dir)
}

/// Moves a completed `staging` directory to `dir`, replacing an existing `dir` only once the
/// new one is complete (see [`polyret_files::replace_dir`]).
pub fn replace_dir(staging: &Path, dir: &Path) -> Result<(), EncoderError> {
    Ok(polyret_files::replace_dir(staging, dir)?)
}

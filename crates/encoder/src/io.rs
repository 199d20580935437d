//! Atomic file output: a crash never leaves a half-written model behind.

use std::path::Path;

use crate::EncoderError;

/// Writes `bytes` to `path.tmp`, syncs, then renames over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EncoderError> {
    use std::io::Write;
    let tmp = tmp_path(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        EncoderError::io(path, e)
    })
}

/// `dir/name.ext` → `dir/name.ext.tmp`.
pub fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Moves a completed `staging` directory to `dir`, replacing an existing `dir` only once the
/// new one is complete (the old one is set aside as `dir.old` and removed afterwards).
pub fn replace_dir(staging: &Path, dir: &Path) -> Result<(), EncoderError> {
    let old = dir.with_file_name(format!("{}.old", dir.file_name().unwrap_or_default().to_string_lossy()));
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| EncoderError::io(&old, e))?;
        }
        std::fs::rename(dir, &old).map_err(|e| EncoderError::io(dir, e))?;
    }
    std::fs::rename(staging, dir).map_err(|e| EncoderError::io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| EncoderError::io(&old, e))?;
    }
    Ok(())
}

//! # polyret-files
//!
//! How every Polyret crate writes files that others read: nothing is ever seen half-written,
//! concurrent writers never share a temporary, and read-modify-write of a shared file is
//! serialised. `docs/guarantees.md` in the Polyret repository says which outputs use what.
//!
//! - [`AtomicFile`] / [`write_atomic`]: written under a unique hidden temporary name in the
//!   target's directory, synced, then renamed over the target; dropped unfinished, the
//!   temporary is removed.
//! - [`DirLock`]: an exclusive advisory lock on a directory (`flock`), held across a
//!   read-modify-write of the files in it; released when dropped or when the process dies.
//! - [`stage_dir`] / [`replace_dir`] / [`recover_dir`]: replace a whole directory (a checkpoint, a
//!   model) with a complete staging copy, and finish or roll back a replacement a kill interrupted.
//! - [`NewDirs`]: directories created for outputs that may still fail, removed again unless kept.
//! - [`HashingWriter`]: SHA-256 of what is written through it, for checksums without a second read.
//!
//! ```
//! use polyret_files::{DirLock, write_atomic};
//!
//! let dir = tempfile::tempdir()?;
//! let index = dir.path().join("index.json");
//! {
//!     let _lock = DirLock::acquire(dir.path())?; // other writers wait here
//!     let mut entries: Vec<String> = match std::fs::read_to_string(&index) {
//!         Ok(text) => text.lines().map(str::to_owned).collect(),
//!         Err(_) => Vec::new(),
//!     };
//!     entries.push("new".into());
//!     write_atomic(&index, entries.join("\n").as_bytes())?;
//! }
//! assert_eq!(std::fs::read_to_string(&index)?, "new");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod hashing;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use hashing::HashingWriter;

/// A file operation that failed, with the file (or directory) it was about.
#[derive(Debug)]
pub struct Error {
    /// The file the caller asked for (the target, not its temporary).
    pub path: PathBuf,
    /// What the operating system said.
    pub source: std::io::Error,
}

impl Error {
    fn new(path: &Path, source: std::io::Error) -> Self {
        Self { path: path.to_owned(), source }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A file being written: bytes go to a temporary with a unique name next to the target
/// (`.NAME.XXXXXX.tmp`), which [`AtomicFile::commit`] syncs and renames over the target.
/// Dropped without a commit, the temporary is deleted and the target is untouched.
pub struct AtomicFile {
    path: PathBuf,
    writer: BufWriter<File>,
    temp: tempfile::TempPath,
}

impl AtomicFile {
    /// Starts writing `path`, creating its directory.
    pub fn create(path: &Path) -> Result<Self> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::new(dir, e))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // tempfile creates 0600 files; an output gets the permissions `File::create` gives.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let (file, temp) = builder.tempfile_in(dir).map_err(|e| Error::new(path, e))?.into_parts();
        Ok(Self { path: path.to_owned(), writer: BufWriter::with_capacity(1 << 20, file), temp })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The buffered writer to the temporary.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// An I/O error from [`AtomicFile::writer`], naming the target.
    pub fn error(&self, source: std::io::Error) -> Error {
        Error::new(&self.path, source)
    }

    /// Flushes, syncs and renames the temporary over the target.
    pub fn commit(self) -> Result<()> {
        let Self { path, writer, temp } = self;
        let file = writer.into_inner().map_err(|e| Error::new(&path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::new(&path, e))?;
        drop(file);
        temp.persist(&path).map_err(|e| Error::new(&path, e.error))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.writer.write_all(bytes).map_err(|e| Error::new(path, e))?;
    file.commit()
}

/// An exclusive advisory lock on a directory, held until dropped (or until the process ends,
/// however it ends). Every writer of a shared file in the directory takes it around its
/// read-modify-write; readers need not, since files there are only ever replaced whole.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

impl DirLock {
    fn open(dir: &Path) -> Result<File> {
        std::fs::create_dir_all(dir).map_err(|e| Error::new(dir, e))?;
        File::open(dir).map_err(|e| Error::new(dir, e))
    }

    /// Locks `dir` (created if missing), waiting for other holders.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let file = Self::open(dir)?;
        file.lock().map_err(|e| Error::new(dir, e))?;
        Ok(Self { _dir: file })
    }

    /// Locks `dir` (created if missing) if no one else holds it; `None` if someone does.
    pub fn try_acquire(dir: &Path) -> Result<Option<Self>> {
        let file = Self::open(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _dir: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::new(dir, e)),
        }
    }
}

/// `dir` with `suffix` appended to its last component: `run/checkpoint` → `run/checkpoint.tmp`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Where a new version of `dir` is staged before [`replace_dir`]: `NAME.tmp` next to it. Only
/// one writer may stage a directory at a time (the caller holds a lock or owns the directory).
pub fn staging_path(dir: &Path) -> PathBuf {
    sibling(dir, ".tmp")
}

/// An empty [`staging_path`] for a new version of `dir`, whatever an interrupted staging left
/// there removed first: fill it, then [`replace_dir`].
pub fn stage_dir(dir: &Path) -> Result<PathBuf> {
    let staging = staging_path(dir);
    remove_dir_if_present(&staging)?;
    std::fs::create_dir_all(&staging).map_err(|e| Error::new(&staging, e))?;
    Ok(staging)
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(dir, e)),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::new(to, e))
}

/// Moves a complete `staging` directory (see [`staging_path`]) to `dir`, replacing an existing
/// `dir` only once the new one is complete: the old one is set aside as `NAME.old` and removed
/// afterwards. A kill at any point leaves a state [`recover_dir`] settles.
pub fn replace_dir(staging: &Path, dir: &Path) -> Result<()> {
    let old = sibling(dir, ".old");
    if dir.exists() {
        remove_dir_if_present(&old)?;
        rename(dir, &old)?;
    }
    rename(staging, dir)?;
    remove_dir_if_present(&old)
}

/// The directory holding the last complete version of `dir`, as [`recover_dir`] would settle
/// it, without changing anything: `dir` itself, or after a kill inside [`replace_dir`] the
/// complete staging copy or the set-aside old one. `None` when there is no complete version.
pub fn settled_dir(dir: &Path) -> Option<PathBuf> {
    let (staging, old) = (staging_path(dir), sibling(dir, ".old"));
    if dir.is_dir() {
        Some(dir.to_owned())
    } else if old.is_dir() {
        // `dir` is renamed aside only once the staging copy is complete.
        Some(if staging.is_dir() { staging } else { old })
    } else {
        None
    }
}

/// Finishes or rolls back a [`replace_dir`] (or a staging) that a kill interrupted, so that
/// `dir` is the last complete version and no `NAME.tmp` or `NAME.old` is left next to it.
pub fn recover_dir(dir: &Path) -> Result<()> {
    let (staging, old) = (staging_path(dir), sibling(dir, ".old"));
    match settled_dir(dir) {
        Some(settled) if settled != dir => rename(&settled, dir)?,
        _ => {}
    }
    remove_dir_if_present(&staging)?;
    remove_dir_if_present(&old)
}

/// Directories created for outputs that may still fail: dropped without [`NewDirs::keep`],
/// each one this call created is removed again if it is still empty, deepest first, so a
/// failed command leaves no empty folders behind.
#[derive(Debug)]
pub struct NewDirs {
    /// Created here, deepest first.
    created: Vec<PathBuf>,
}

impl NewDirs {
    /// Creates `dir` and its missing parents.
    pub fn create(dir: &Path) -> Result<Self> {
        let created: Vec<PathBuf> =
            dir.ancestors().take_while(|p| !p.as_os_str().is_empty() && !p.exists()).map(Path::to_owned).collect();
        std::fs::create_dir_all(dir).map_err(|e| Error::new(dir, e))?;
        Ok(Self { created })
    }

    /// The outputs are complete: keep the directories.
    pub fn keep(mut self) {
        self.created.clear();
    }
}

impl Drop for NewDirs {
    fn drop(&mut self) {
        for dir in &self.created {
            // Best effort, and only empty directories: what is in them is someone's output.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn unfinished_files_leave_nothing_and_committed_files_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"partial").unwrap();
            let temp = names(&dir.path().join("sub"));
            assert!(temp.len() == 1 && temp[0].starts_with(".out.txt.") && temp[0].ends_with(".tmp"), "{temp:?}");
        }
        assert!(names(&dir.path().join("sub")).is_empty());
        write_atomic(&path, b"whole").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(names(&dir.path().join("sub")), ["out.txt"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_ne!(mode, 0o600, "outputs get the usual permissions, not tempfile's private ones");
        }
    }

    #[test]
    fn concurrent_writers_never_share_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.bin");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(path, &vec![t; 64 * 1024]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 64 * 1024);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "one writer's content, whole");
        assert_eq!(names(dir.path()), ["shared.bin"]);
    }

    #[test]
    fn the_lock_serialises_read_modify_write() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("counter");
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..25 {
                        let _lock = DirLock::acquire(dir.path()).unwrap();
                        let n: u32 = std::fs::read_to_string(&counter).map_or(0, |t| t.parse().unwrap());
                        write_atomic(&counter, (n + 1).to_string().as_bytes()).unwrap();
                    }
                });
            }
        });
        assert_eq!(std::fs::read_to_string(&counter).unwrap(), "200");
        let held = DirLock::try_acquire(dir.path()).unwrap().expect("free");
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_none(), "held by `held`");
        drop(held);
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_some());
    }

    /// Each state a kill can leave inside `replace_dir` settles to the newest complete copy.
    #[test]
    fn recover_dir_settles_every_interrupted_replacement() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("ckpt");
        let make = |path: &Path, content: &str| {
            std::fs::create_dir_all(path).unwrap();
            std::fs::write(path.join("state"), content).unwrap();
        };
        let (staging, old) = (staging_path(&dir), root.path().join("ckpt.old"));
        // (present, staging, old) → expected content of `dir` afterwards.
        type Content = Option<&'static str>;
        let cases: [(Content, Content, Content, Content); 5] = [
            (Some("cur"), Some("partial"), None, Some("cur")),
            (Some("new"), None, Some("prev"), Some("new")),
            (None, Some("new"), Some("prev"), Some("new")),
            (None, None, Some("prev"), Some("prev")),
            (None, Some("partial"), None, None),
        ];
        for (present, staged, aside, expected) in cases {
            for (path, content) in [(&dir, present), (&staging, staged), (&old, aside)] {
                if let Some(c) = content {
                    make(path, c);
                }
            }
            let settled = settled_dir(&dir).map(|d| std::fs::read_to_string(d.join("state")).unwrap());
            assert_eq!(settled.as_deref(), expected);
            recover_dir(&dir).unwrap();
            let content = std::fs::read_to_string(dir.join("state")).ok();
            assert_eq!(content.as_deref(), expected);
            assert!(!staging.exists() && !old.exists());
            let _ = std::fs::remove_dir_all(&dir);
        }
        make(&staging, "leftover");
        make(&dir, "cur");
        assert_eq!(stage_dir(&dir).unwrap(), staging);
        assert!(names(&staging).is_empty(), "a leftover staging copy is cleared");
        std::fs::write(staging.join("state"), "next").unwrap();
        replace_dir(&staging, &dir).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("state")).unwrap(), "next");
        assert_eq!(names(root.path()), ["ckpt"]);
    }

    #[test]
    fn new_dirs_are_removed_unless_kept_and_only_when_empty() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        drop(NewDirs::create(&deep).unwrap());
        assert!(names(root.path()).is_empty());
        std::fs::create_dir(root.path().join("a")).unwrap();
        let dirs = NewDirs::create(&deep).unwrap();
        std::fs::write(root.path().join("a/b/file"), "x").unwrap();
        drop(dirs);
        assert!(root.path().join("a/b/file").exists() && !deep.exists());
        NewDirs::create(&root.path().join("kept")).unwrap().keep();
        assert!(root.path().join("kept").is_dir());
    }
}

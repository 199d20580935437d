//! The one error type of the crate. Every variant names the file it is about (and the line
//! where there is one), because the person reading the message has to go and fix that file.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line number inside a file, rendered as `:N` after the file name (nothing when
/// the problem concerns the file as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line(pub Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, ":{n}"),
            None => Ok(()),
        }
    }
}

/// Why reading a dataset or a table failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The operating system refused to read or write the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An input file the reader needs does not exist.
    #[error("{}: file not found", path.display())]
    MissingFile {
        /// The file that should be there.
        path: PathBuf,
    },
    /// An input file (or the text inside a gzip file) has no content at all.
    #[error("{}: file is empty", path.display())]
    EmptyFile {
        /// The empty file.
        path: PathBuf,
    },
    /// A `.gz` file could not be decompressed, usually because it was cut short.
    #[error("{}: truncated or corrupt gzip data: {source}", path.display())]
    Gzip {
        /// The gzip file.
        path: PathBuf,
        /// The decoder's complaint.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not valid UTF-8 text.
    #[error("{}{line}: not valid UTF-8", path.display())]
    Utf8 {
        /// The file.
        path: PathBuf,
        /// Line of the first invalid byte.
        line: Line,
    },
    /// JSON (a whole document or one JSONL line) did not parse or lacks a required field.
    #[error("{}:{line}:{column}: malformed JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column in that line.
        column: usize,
        /// serde_json's description (it names a missing field, for example).
        message: String,
    },
    /// A language code that `polyret_ingest::lang` does not know.
    #[error("{}{line}: unknown language code `{code}`", path.display())]
    UnknownLanguage {
        /// The file where the code was found (in its name or its content).
        path: PathBuf,
        /// Line, when the code comes from the content.
        line: Line,
        /// The code as written.
        code: String,
    },
    /// Two records claim the same identifier where identifiers must be unique.
    #[error("{}{line}: duplicate id `{id}`", path.display())]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// Line of the second occurrence, when known.
        line: Line,
        /// The identifier.
        id: String,
    },
    /// A text that must not be empty is empty (a caption, a query, a line of a parallel file).
    #[error("{}{line}: empty text{}", path.display(), field.as_ref().map(|f| format!(" in `{f}`")).unwrap_or_default())]
    EmptyText {
        /// The file.
        path: PathBuf,
        /// The line.
        line: Line,
        /// The field, for structured records.
        field: Option<String>,
    },
    /// A SQuAD answer points outside its paragraph, or the span does not spell the answer.
    #[error("{}: question {question}: {message}", path.display())]
    BadAnswer {
        /// The XQuAD file.
        path: PathBuf,
        /// The question id.
        question: String,
        /// What is wrong (start and length against the context length, or the mismatching text).
        message: String,
    },
    /// Files that must be line-aligned have different numbers of lines.
    #[error("{}: {actual} lines, but {} has {expected}", path.display(), reference.display())]
    Ragged {
        /// The file whose count differs.
        path: PathBuf,
        /// The file it is compared with.
        reference: PathBuf,
        /// Lines in `reference`.
        expected: usize,
        /// Lines in `path`.
        actual: usize,
    },
    /// The content parsed but breaks a rule of its format (structure of parallel XQuAD files,
    /// a split name, a dangling qrel…).
    #[error("{}{line}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line, when there is one.
        line: Line,
        /// The rule that is broken.
        message: String,
    },
    /// A Parquet table lacks a column or has one of the wrong type.
    #[error("{}: {message}", path.display())]
    Schema {
        /// The Parquet file.
        path: PathBuf,
        /// Which column and what was expected.
        message: String,
    },
    /// The Parquet library failed to read or write the file.
    #[error("{}: parquet: {source}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow record batch failed (column length mismatch and the like).
    #[error("{}: arrow: {source}", path.display())]
    Arrow {
        /// The Parquet file being written or read.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A table name that the catalog does not list.
    #[error("{}: no table named `{name}` (known: {known})", path.display())]
    UnknownTable {
        /// The catalog file.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// Comma-separated names the catalog has.
        known: String,
    },
    /// Publishing would replace a table of another kind, or a bundled benchmark, by a user table.
    #[error(
        "{}: table `{name}` already holds {existing}; publishing {new} under that name would replace it \
         (choose another name, or replace it on purpose with --force)",
        path.display()
    )]
    WouldReplace {
        /// The catalog file.
        path: PathBuf,
        /// The table name.
        name: String,
        /// What the catalog has under it now, in words.
        existing: String,
        /// What was about to replace it, in words.
        new: String,
    },
}

impl From<polyret_files::Error> for IngestError {
    fn from(e: polyret_files::Error) -> Self {
        IngestError::io(e.path, e.source)
    }
}

/// Result alias of this crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

impl IngestError {
    /// Wraps an I/O error, turning "not found" into [`IngestError::MissingFile`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            IngestError::MissingFile { path }
        } else {
            IngestError::Io { path, source }
        }
    }

    /// A JSON error at a position in a file; `line_offset` is added to serde's line so that a
    /// JSONL record parsed on its own still reports its line in the file.
    pub(crate) fn json(path: impl Into<PathBuf>, line_offset: usize, e: &serde_json::Error) -> Self {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the position is reported separately.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        IngestError::Json { path: path.into(), line: e.line() + line_offset, column: e.column(), message }
    }

    /// A rule violation at an optional line.
    pub(crate) fn invalid(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        IngestError::Invalid { path: path.into(), line: Line(line), message: message.into() }
    }
}

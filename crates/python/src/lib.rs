//! `polyret._polyret`: the native part of the `polyret` Python package (`python/`).
//!
//! Conversion and errors only: every computation is the Rust crates' own —
//! [`polyret_sampler::PairTable`] and [`polyret_sampler::Sampler`] for batches,
//! [`polyret_evaluator::evaluate_embeddings`] for evaluation,
//! [`polyret_encoder::SentenceEncoder`] for embeddings. The Python modules around it
//! (`python/polyret/`) give the Pythonic API; `python/README.md` documents it.
//!
//! Every Rust error reaches Python as `polyret.PolyretError` (a `ValueError`) carrying the Rust
//! message and its causes; arguments of the wrong type, shape or length are `TypeError` /
//! `ValueError` naming the argument. Long computations release the GIL.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

mod arrays;
mod encoder;
mod evaluate;
mod sampler;

create_exception!(
    polyret,
    PolyretError,
    PyValueError,
    "An error reported by Polyret's Rust code; the message names the value, row or file and the fix."
);

/// `PolyretError` with the error's message and every cause not already part of it.
pub(crate) fn error(e: &(dyn Error + 'static)) -> PyErr {
    PolyretError::new_err(message(e))
}

/// The error's message followed by every cause not already part of it.
pub(crate) fn message(e: &(dyn Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            let _ = write!(message, ": {text}");
        }
        source = cause.source();
    }
    message
}

/// Checks that a per-row argument has one entry per row.
pub(crate) fn check_len(what: &str, len: usize, expected: usize, of: &str) -> PyResult<()> {
    if len == expected {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!("{what} has {len} entries, {of} has {expected}: give one per row")))
    }
}

/// Checks that every language code is canonical (ISO 639-1 where one exists, else 639-3),
/// as Polyret's tables hold them, naming the argument, the row and the canonical form.
pub(crate) fn check_langs(what: &str, langs: &[String]) -> PyResult<()> {
    let mut checked: HashSet<&str> = HashSet::new();
    for (row, code) in langs.iter().enumerate() {
        if checked.contains(code.as_str()) {
            continue;
        }
        match polyret_ingest::canonical_lang(code) {
            Some(c) if c == code => {
                checked.insert(code);
            }
            Some(c) => {
                return Err(PyValueError::new_err(format!(
                    "{what}[{row}]: language code `{code}` is written `{c}` in Polyret (ISO 639-1 where one \
                     exists, else ISO 639-3)"
                )));
            }
            None => {
                return Err(PyValueError::new_err(format!(
                    "{what}[{row}]: unknown language code `{code}` (Polyret uses ISO 639-1 codes such as `en`, \
                     `de`, `zh`, else ISO 639-3)"
                )));
            }
        }
    }
    Ok(())
}

/// A `TypeError` naming the argument.
pub(crate) fn type_error(what: &str, expected: &str, got: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(format!("{what} must be {expected}, got {got}"))
}

#[pymodule]
fn _polyret(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PolyretError", m.py().get_type::<PolyretError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sampler::PairSampler>()?;
    m.add_function(wrap_pyfunction!(sampler::expand_parallel, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate::load_benchmark, m)?)?;
    m.add_class::<encoder::Encoder>()?;
    Ok(())
}

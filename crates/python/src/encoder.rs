//! `polyret.Encoder`: a model directory in, numpy embeddings out, on Polyret's CPU path.

use std::path::PathBuf;

use polyret_encoder::{BackendKind, Role, SentenceEncoder};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use crate::arrays::to_bytearray;
use crate::{PolyretError, error, message};

/// A sentence encoder loaded from a model directory (HF + sentence-transformers layout).
#[pyclass(module = "polyret._polyret", frozen)]
pub struct Encoder {
    inner: SentenceEncoder,
    backend: BackendKind,
}

#[pymethods]
impl Encoder {
    /// Loads `model_dir` on `backend` (`flex`, the fast CPU path, by default; `ndarray`, `wgpu`).
    #[new]
    #[pyo3(signature = (model_dir, backend="flex"))]
    fn new(py: Python<'_>, model_dir: PathBuf, backend: &str) -> PyResult<Self> {
        let backend: BackendKind = backend.parse().map_err(|e| PyValueError::new_err(format!("backend: {e}")))?;
        let inner = py
            .detach(|| SentenceEncoder::load(&model_dir, &backend.device()))
            .map_err(|e| PolyretError::new_err(format!("loading model {}: {}", model_dir.display(), message(&e))))?;
        Ok(Self { inner, backend })
    }

    /// Embeddings of `texts`, each prompted for `role` (`"query"` or `"passage"`, as E5 models
    /// need), as the native float32 bytes of a `len(texts) × dim` array.
    #[pyo3(signature = (texts, role="passage"))]
    fn encode<'py>(&self, py: Python<'py>, texts: Vec<String>, role: &str) -> PyResult<Bound<'py, PyByteArray>> {
        let role = match role {
            "query" => Role::Query,
            "passage" => Role::Passage,
            other => {
                return Err(PyValueError::new_err(format!("role must be \"query\" or \"passage\", got {other:?}")));
            }
        };
        let values = if texts.is_empty() {
            Vec::new()
        } else {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            py.detach(|| self.inner.embed(&refs, role)).map_err(|e| error(&e))?
        };
        to_bytearray(py, &values, f32::to_ne_bytes)
    }

    /// Width of an embedding.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Identifies the weights and settings (equal fingerprints give equal embeddings).
    #[getter]
    fn fingerprint(&self) -> &str {
        self.inner.fingerprint()
    }

    /// The Burn backend it runs on.
    #[getter]
    fn backend(&self) -> String {
        self.backend.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Encoder(dim={}, backend={:?})", self.inner.dim(), self.backend.to_string())
    }
}

//! numpy arrays across the boundary without numpy's C API (see the manifest for why): inputs are
//! read in place through `__array_interface__`, outputs leave as bytearrays that
//! `numpy.frombuffer` wraps without copying.

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};

use crate::type_error;

/// numpy's type string of a native-endian float32.
const F32: &str = if cfg!(target_endian = "little") { "<f4" } else { ">f4" };

/// A C-contiguous 2-D float32 numpy array, read in place: the slice lives as long as the
/// reference to the array kept here. The caller must not write to the array meanwhile.
pub(crate) struct Matrix<'py> {
    _array: Bound<'py, PyAny>,
    data: usize,
    rows: usize,
    cols: usize,
}

impl<'py> Matrix<'py> {
    /// Reads `value`'s array interface; a `TypeError` naming `what` when it is not a C-contiguous
    /// 2-D float32 array.
    pub(crate) fn extract(what: &str, value: &Bound<'py, PyAny>) -> PyResult<Self> {
        let expected = "a C-contiguous 2-D numpy float32 array (rows × dimension)";
        let interface = value.getattr("__array_interface__").ok().and_then(|i| i.cast_into::<PyDict>().ok());
        let Some(interface) = interface else {
            return Err(type_error(what, expected, value.get_type().name()?));
        };
        let item = |key: &str| interface.get_item(key)?.ok_or_else(|| type_error(what, expected, "no array interface"));
        let typestr: String = item("typestr")?.extract()?;
        let shape: Vec<usize> = item("shape")?.extract()?;
        if typestr != F32 || shape.len() != 2 {
            let dtype = value.getattr("dtype").and_then(|d| d.str().map(|s| s.to_string())).unwrap_or(typestr);
            let hint = if shape.len() == 2 { "; convert it with .astype(numpy.float32)" } else { "" };
            return Err(type_error(
                what,
                expected,
                format!("a {}-D {dtype} array of shape {shape:?}{hint}", shape.len()),
            ));
        }
        if !interface.get_item("strides")?.is_none_or(|s| s.is_none()) {
            return Err(type_error(what, expected, "a strided view; pass numpy.ascontiguousarray(...)"));
        }
        let (data, _readonly): (usize, bool) = item("data")?.extract()?;
        Ok(Self { _array: value.clone(), data, rows: shape[0], cols: shape[1] })
    }

    pub(crate) fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    pub(crate) fn values(&self) -> &[f32] {
        let len = self.rows * self.cols;
        if len == 0 {
            return &[];
        }
        // SAFETY: numpy's array interface describes `rows × cols` contiguous, aligned float32
        // values at `data`; `_array` keeps the array, and so its buffer, alive while `self` is.
        unsafe { std::slice::from_raw_parts(self.data as *const f32, len) }
    }
}

/// `values` in native byte order, for `numpy.frombuffer(…, dtype)`.
pub(crate) fn to_bytearray<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    values: &[T],
    bytes: fn(T) -> [u8; N],
) -> PyResult<Bound<'py, PyByteArray>> {
    PyByteArray::new_with(py, values.len() * N, |buffer| {
        for (out, &v) in buffer.chunks_exact_mut(N).zip(values) {
            out.copy_from_slice(&bytes(v));
        }
        Ok(())
    })
}

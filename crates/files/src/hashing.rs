//! Checksums computed on the way to the file.

use std::io::Write;

use sha2::{Digest, Sha256};

/// A writer that hashes with SHA-256 every byte it passes on to `inner`, so a file's checksum
/// costs no second read. Only the bytes `inner` accepted are hashed.
///
/// ```
/// use std::io::Write;
/// use polyret_files::HashingWriter;
///
/// let mut out = Vec::new();
/// let mut w = HashingWriter::new(&mut out);
/// w.write_all(b"abc")?;
/// let digest = w.finalize();
/// assert_eq!(out, b"abc");
/// assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W> HashingWriter<W> {
    /// Hashes what is written through to `inner` (pass `&mut writer` to keep using it after).
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new() }
    }

    /// The SHA-256 of everything written through; drops the wrapper and its `inner` unflushed.
    pub fn finalize(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts at most `limit` bytes per call, as a pipe or socket may.
    struct Trickle<'a> {
        out: &'a mut Vec<u8>,
        limit: usize,
    }

    impl Write for Trickle<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.limit);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn hashes_exactly_the_bytes_written_through() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        let mut w = HashingWriter::new(Trickle { out: &mut out, limit: 333 });
        w.write_all(&data[..1234]).unwrap();
        w.write_all(&data[1234..]).unwrap();
        w.flush().unwrap();
        let digest = w.finalize();
        assert_eq!(out, data);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&data)));
        // The empty input's well-known digest.
        let empty = HashingWriter::new(std::io::sink()).finalize();
        assert_eq!(empty[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }
}

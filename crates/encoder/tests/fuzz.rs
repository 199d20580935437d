//! Fuzz targets of the weight readers: safetensors files with generated headers (dtypes, shapes,
//! offsets, lengths) and `E5S1` files mutated from a valid one must give an error naming the
//! file, never a panic; what is accepted must hold the tensors it claims. 256 cases per target by
//! default; run longer by hand with e.g.
//! `PROPTEST_CASES=20000 cargo test --release -p polyret-encoder --test fuzz`.

use std::path::Path;

use polyret_encoder::{read_e5s1, read_safetensors};
use proptest::prelude::*;

/// One tensor entry of a safetensors header: name, dtype, shape, data offsets (or a junk value).
fn header_entry() -> impl Strategy<Value = (String, serde_json::Value)> {
    let dtype =
        prop::sample::select(vec!["F32", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F64", "F8_E4M3", "XX", ""]);
    let dim = prop_oneof![4 => 0usize..5, 1 => Just(usize::MAX / 2), 1 => Just(1usize << 40)];
    let shape = prop::collection::vec(dim, 0..4);
    let offsets = prop_oneof![
        (0u64..64, 0u64..64).prop_map(|(a, b)| serde_json::json!([a, b])),
        any::<u64>().prop_map(|a| serde_json::json!([a, a])),
        Just(serde_json::json!([8])),
        Just(serde_json::json!("x")),
    ];
    ("[a-z.]{0,6}", dtype, shape, offsets).prop_map(|(name, dtype, shape, offsets)| {
        (name, serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": offsets}))
    })
}

/// A safetensors file: header length (true or not), header JSON, data bytes.
fn safetensors_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(header_entry(), 0..4),
        prop::option::weighted(0.2, any::<u64>()),
        prop::collection::vec(any::<u8>(), 0..96),
        any::<bool>(),
    )
        .prop_map(|(entries, length, data, metadata)| {
            let mut header: serde_json::Map<String, serde_json::Value> = entries.into_iter().collect();
            if metadata {
                header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
            }
            let header = serde_json::Value::Object(header).to_string();
            let mut bytes = length.unwrap_or(header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(&data);
            bytes
        })
}

/// A valid `E5S1` file of a one-layer model (hidden 32, one head, vocabulary 3), f32 and Q4_0
/// tensors mixed, laid out as `e5.c` reads it.
fn tiny_e5s1() -> Vec<u8> {
    let (hidden, inter, vocab, positions, types) = (32usize, 32usize, 3usize, 4usize, 1usize);
    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        ("emb.word".into(), vec![vocab, hidden]),
        ("emb.pos".into(), vec![positions, hidden]),
        ("emb.type".into(), vec![types, hidden]),
        ("emb.ln.w".into(), vec![hidden]),
        ("emb.ln.b".into(), vec![hidden]),
    ];
    for (name, rows, cols) in [
        ("q", hidden, hidden),
        ("k", hidden, hidden),
        ("v", hidden, hidden),
        ("ao", hidden, hidden),
        ("fi", inter, hidden),
        ("fo", hidden, inter),
    ] {
        tensors.push((format!("l0.{name}.w"), vec![rows, cols]));
        tensors.push((format!("l0.{name}.b"), vec![rows]));
    }
    for name in ["aln", "oln"] {
        tensors.push((format!("l0.{name}.w"), vec![hidden]));
        tensors.push((format!("l0.{name}.b"), vec![hidden]));
    }
    let mut out = b"E5S1".to_vec();
    let i32s = |out: &mut Vec<u8>, values: &[usize]| {
        values.iter().for_each(|&v| out.extend_from_slice(&(v as i32).to_le_bytes()))
    };
    out.extend_from_slice(&1u32.to_le_bytes());
    i32s(&mut out, &[hidden, 1, 1, inter, vocab, positions, types]);
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    i32s(&mut out, &[32]); // block
    let pieces = 2usize;
    i32s(&mut out, &[pieces]);
    for special in [0u32, 2, 1, 3] {
        out.extend_from_slice(&special.to_le_bytes());
    }
    out.extend_from_slice(&3u64.to_le_bytes()); // blob length
    out.extend(std::iter::repeat_n(0u8, (pieces + 1) * 4 + pieces * 4));
    out.extend_from_slice(b"abc");
    i32s(&mut out, &[0]); // normalisation entries
    out.extend_from_slice(&0u32.to_le_bytes()); // normalisation bytes
    i32s(&mut out, &[tensors.len()]);
    // Directory first (fixed size per entry), then the data it points at.
    let directory_len: usize = tensors.iter().map(|(name, _)| 2 + name.len() + 1 + 4 + 8 + 8).sum();
    let mut offset = out.len() + directory_len;
    let mut data = Vec::new();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let n: usize = shape.iter().product();
        let quantized = shape.len() == 2 && i % 2 == 0;
        let bytes: Vec<u8> = if quantized {
            (0..n / 32)
                .flat_map(|b| [&half::f16::from_f32(0.01 * b as f32).to_le_bytes()[..], &[0x5a; 16][..]].concat())
                .collect()
        } else {
            (0..n).flat_map(|v| (v as f32 * 1e-3).to_le_bytes()).collect()
        };
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(u8::from(quantized));
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset += bytes.len();
        data.extend(bytes);
    }
    out.extend(data);
    out
}

/// A byte edit: overwrite a 4-byte field with an awkward integer, flip a byte, insert, delete,
/// or cut the file short.
#[derive(Debug, Clone)]
enum Edit {
    Int(prop::sample::Index, i32),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let awkward = prop::sample::select(vec![0, -1, 1, 31, 33, 64, i32::MAX, i32::MIN, 1 << 20]);
    prop_oneof![
        3 => (any::<prop::sample::Index>(), awkward).prop_map(|(i, v)| Edit::Int(i, v)),
        3 => (any::<prop::sample::Index>(), 1u8..).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Delete),
        1 => any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len();
    match edit {
        Edit::Int(at, v) if len >= 4 => {
            // Header fields are 4-byte aligned near the start: favour them.
            let i = at.index((len - 3).min(160));
            bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        Edit::Flip(at, mask) if len > 0 => bytes[at.index(len)] ^= mask,
        Edit::Insert(at, b) => bytes.insert(at.index(len + 1), *b),
        Edit::Delete(at) if len > 0 => drop(bytes.remove(at.index(len))),
        Edit::Truncate(at) => bytes.truncate(at.index(len + 1)),
        _ => {}
    }
}

fn names_the_file(err: impl std::fmt::Display, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

proptest! {
    #[test]
    fn safetensors_reader_never_panics(file in safetensors_file()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, &file).unwrap();
        match read_safetensors(&path) {
            Ok(tensors) => prop_assert!(tensors.values().all(|t| t.shape.iter().product::<usize>() == t.data.len())),
            Err(e) => prop_assert!(names_the_file(&e, &path), "{}", e),
        }
    }

    #[test]
    fn e5s1_reader_never_panics(edits in prop::collection::vec(edit(), 1..5)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e5.bin");
        let mut bytes = tiny_e5s1();
        for e in &edits {
            apply(&mut bytes, e);
        }
        std::fs::write(&path, &bytes).unwrap();
        match read_e5s1(&path) {
            Ok((header, tensors)) => {
                let config = header.to_config();
                prop_assert_eq!(tensors["embeddings.word_embeddings.weight"].shape.clone(), vec![config.vocab_size, config.hidden_size]);
            }
            Err(e) => prop_assert!(names_the_file(&e, &path), "{}", e),
        }
    }
}

#[test]
fn the_unmutated_e5s1_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e5.bin");
    std::fs::write(&path, tiny_e5s1()).unwrap();
    let (header, tensors) = read_e5s1(&path).unwrap();
    assert_eq!((header.hidden, header.layers, header.vocab), (32, 1, 3));
    assert_eq!(tensors.len(), 5 + 16);
}

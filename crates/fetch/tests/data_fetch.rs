//! `fetch_data` end to end on real upstream files: a temporary copy of part of the data mirror
//! (xFlickr&CO and Tatoeba), served as a mirror folder or over HTTP by a tiny local server.
//!
//! The mirror is `POLYRET_DATA_MIRROR` or `../shared/data` next to the repository (where CI
//! and the development machines have it); without it these tests fail and say so.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use polyret_fetch::data::{MIRROR_ENV, Manifest};
use polyret_fetch::{DataOptions, FetchError, fetch_data};
use polyret_ingest::Dataset;
use sha2::{Digest, Sha256};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest_path() -> PathBuf {
    repo_root().join("data/manifest.toml")
}

fn real_mirror() -> PathBuf {
    let mirror = std::env::var_os(MIRROR_ENV).map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/data"));
    assert!(
        mirror.join("e-bug/iglue").is_dir(),
        "these tests need the data mirror at {} (set {MIRROR_ENV} to use another)",
        mirror.display()
    );
    mirror
}

/// Copies every manifest file of `datasets` from the real mirror into `dest`.
fn copy_mirror(dest: &Path, datasets: &[Dataset]) {
    let manifest = Manifest::load(&manifest_path()).unwrap();
    let real = real_mirror();
    for d in datasets {
        for f in manifest.files_of(d.manifest_entries()) {
            let to = f.under(dest);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(f.under(&real), &to).unwrap();
        }
    }
}

fn options(data_dir: &Path, mirror: Option<&Path>, only: &[&str]) -> DataOptions {
    let mut opts = DataOptions::new(data_dir);
    opts.manifest = Some(manifest_path());
    opts.mirror = mirror.map(Path::to_path_buf);
    opts.only = only.iter().map(|s| s.to_string()).collect();
    opts.progress = false;
    opts
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Flips one bit in the middle of `path`; returns the new checksum.
fn corrupt_one_byte(path: &Path) -> String {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(path, &bytes).unwrap();
    sha256_hex(&bytes)
}

fn manifest_sha(rel: &str) -> String {
    let manifest = Manifest::load(&manifest_path()).unwrap();
    let all: Vec<_> = manifest.files_of(Dataset::XflickrCo.manifest_entries()).collect();
    all.iter().find(|f| f.rel_path() == rel).unwrap().file.sha256.clone()
}

const GERMAN: &str = "e-bug/iglue/datasets/xFlickrCO/annotations/de/test.jsonl";

#[test]
fn corrupted_byte_fails_naming_file_and_checksums_and_writes_no_table_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    copy_mirror(&mirror, &[Dataset::XflickrCo, Dataset::Tatoeba]);
    let victim = mirror.join(GERMAN);
    let actual = corrupt_one_byte(&victim);
    let expected = manifest_sha(GERMAN);

    let data = dir.path().join("data");
    let err = fetch_data(&options(&data, Some(&mirror), &["xflickrco", "tatoeba"])).unwrap_err();
    match &err {
        FetchError::Checksum { path, expected: e, actual: a } => {
            assert_eq!((path, e, a), (&victim, &expected, &actual));
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&victim.display().to_string()) && shown.contains(&expected) && shown.contains(&actual),
        "{shown}"
    );

    // Nothing of xFlickr&CO was written; Tatoeba, whose files are fine, was ingested.
    assert!(!data.join("parquet/xflickrco").exists());
    assert!(!data.join("raw").join(GERMAN).exists());
    assert!(!data.join("raw").join(format!("{GERMAN}.tmp")).exists());
    let catalog = polyret_ingest::Catalog::load(&data.join("parquet/catalog.json")).unwrap();
    assert!(catalog.table("xflickrco").is_none());
    assert!(catalog.table("tatoeba").is_some());
}

#[test]
fn second_run_has_nothing_to_do_until_something_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    copy_mirror(&mirror, &[Dataset::XflickrCo]);
    let data = dir.path().join("data");
    let opts = options(&data, Some(&mirror), &["xflickrco"]);

    let first = fetch_data(&opts).unwrap();
    let files = Manifest::load(&manifest_path()).unwrap().files_of(Dataset::XflickrCo.manifest_entries()).count();
    assert_eq!((first.files_copied, first.files_present), (files, 0));
    assert_eq!(first.ingested, vec![(Dataset::XflickrCo, vec!["xflickrco".to_string()])]);
    assert_eq!(first.catalog.read_eval_set("xflickrco").unwrap().corpus.len(), 8 * 2000 - 2);

    let second = fetch_data(&opts).unwrap();
    assert!(second.nothing_to_do());
    assert_eq!(second.files_copied + second.files_present, 0, "no file is even looked at");
    assert!(second.to_string().starts_with("nothing to do: xflickrco up to date in "), "{second}");

    // A damaged table is rebuilt from the raw files already in place.
    std::fs::write(data.join("parquet/xflickrco/qrels.parquet"), b"damaged").unwrap();
    let third = fetch_data(&opts).unwrap();
    assert_eq!((third.ingested.len(), third.files_present, third.files_copied), (1, files, 0));

    let mut forced = opts.clone();
    forced.force = true;
    assert_eq!(fetch_data(&forced).unwrap().ingested.len(), 1);
    assert!(fetch_data(&opts).unwrap().nothing_to_do());
}

#[test]
fn missing_mirror_file_and_offline_raw_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    copy_mirror(&mirror, &[Dataset::XflickrCo]);
    let gone = mirror.join("e-bug/iglue/datasets/xFlickrCO/annotations/ja/test.jsonl");
    std::fs::remove_file(&gone).unwrap();
    let data = dir.path().join("data");
    let err = fetch_data(&options(&data, Some(&mirror), &["xflickrco"])).unwrap_err();
    assert!(matches!(&err, FetchError::MissingInMirror { path, .. } if path == &gone), "{err}");
    assert!(
        err.to_string().starts_with("e-bug/iglue/datasets/xFlickrCO/annotations/ja/test.jsonl: not in the mirror"),
        "{err}"
    );

    let mut offline = options(&dir.path().join("empty"), None, &["xflickrco"]);
    offline.offline = true;
    let err = fetch_data(&offline).unwrap_err().to_string();
    assert!(err.contains("raw file missing; run `fetch-data` first"), "{err}");
}

#[test]
fn unknown_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_data(&options(dir.path(), None, &["squad"])).unwrap_err();
    assert!(matches!(err, FetchError::UnknownDataset { .. }), "{err}");
}

/// Serves `root/OWNER/REPO/PATH` at `/OWNER/REPO/COMMIT/PATH` (any commit), 404 otherwise.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (Ok(mut stream), root) = (stream, root.clone()) else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap() > 2 {
                    header.clear();
                }
                let target = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                let parts: Vec<&str> = target.splitn(4, '/').collect();
                let body = (parts.len() == 4)
                    .then(|| std::fs::read(root.join(parts[0]).join(parts[1]).join(parts[3])).ok())
                    .flatten();
                let reply = match &body {
                    Some(b) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len()),
                    None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                };
                stream.write_all(reply.as_bytes()).unwrap();
                stream.write_all(body.as_deref().unwrap_or_default()).unwrap();
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn downloads_verify_checksums_and_report_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let served = dir.path().join("served");
    copy_mirror(&served, &[Dataset::XflickrCo]);
    let base = serve(served.clone());

    let data = dir.path().join("data");
    let mut opts = options(&data, None, &["xflickrco"]);
    opts.url_base = base.clone();
    let report = fetch_data(&opts).unwrap();
    assert_eq!(
        report.files_downloaded,
        Manifest::load(&manifest_path()).unwrap().files_of(Dataset::XflickrCo.manifest_entries()).count()
    );
    assert!(report.catalog.table("xflickrco").is_some());

    // A corrupted download is refused and named by its address.
    let data2 = dir.path().join("data2");
    let actual = corrupt_one_byte(&served.join(GERMAN));
    let mut opts2 = options(&data2, None, &["xflickrco"]);
    opts2.url_base = base.clone();
    let err = fetch_data(&opts2).unwrap_err().to_string();
    let commit = Manifest::load(&manifest_path()).unwrap().entry("xflickrco").unwrap().commit.clone();
    assert!(
        err.starts_with(&format!(
            "{base}/e-bug/iglue/{commit}/datasets/xFlickrCO/annotations/de/test.jsonl: checksum mismatch"
        )),
        "{err}"
    );
    assert!(err.contains(&manifest_sha(GERMAN)) && err.contains(&actual), "{err}");
    assert!(!data2.join("parquet/xflickrco").exists());

    // A missing upstream file is an HTTP error naming the address.
    std::fs::remove_file(served.join(GERMAN)).unwrap();
    let err = fetch_data(&opts2).unwrap_err().to_string();
    assert!(err.ends_with("de/test.jsonl: HTTP 404"), "{err}");
}

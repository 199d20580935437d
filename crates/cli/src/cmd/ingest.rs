//! `polyret ingest <source>`: converts one dataset into Parquet tables under
//! `DATA_DIR/parquet/` and records them in its `catalog.json`.
//!
//! Bundled benchmarks are read from the verified files in `DATA_DIR/raw/` (put there by
//! `fetch-data`; nothing is downloaded here) and always rebuilt. User data comes in through
//! `jsonl` (training pairs) and `parallel` (a line-aligned evaluation set).

use std::path::{Path, PathBuf};

use anyhow::Context;
use polyret_fetch::DataOptions;
use polyret_ingest::{
    CATALOG_FILE, Catalog, Ingested, Replace, Source, Table, language_files, read_jsonl_pairs, read_parallel_dir,
    validate_table_name,
};

/// Convert a dataset into Parquet tables.
#[derive(clap::Args)]
pub struct Args {
    /// Data directory: bundled benchmarks are read from DIR/raw, tables written to DIR/parquet.
    #[arg(long, value_name = "DIR", default_value = "data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    source: SourceArg,
}

#[derive(clap::Subcommand)]
enum SourceArg {
    /// XQuAD training pairs and the XQuAD-R evaluation sets (xquad-pairs, xquad-r, xquad-r-full).
    Xquad,
    /// Same as `xquad`: one reader builds pairs and evaluation sets, which share the sentence
    /// breaks and the article split.
    XquadR,
    /// MLQA-R (LAReQA) answer retrieval (7 languages; CC BY-NC 4.0, non-commercial).
    MlqaR,
    /// Multi30K: multi30k-pairs and the task1 test sets.
    Multi30k,
    /// xFlickr&CO caption retrieval (8 languages).
    Xflickrco,
    /// Tatoeba bitext retrieval (one subset per XXX-eng pair).
    Tatoeba,
    /// Training pairs from a JSONL file: lines {query, positive, [negative], query_lang,
    /// positive_lang, [group_id]}.
    Jsonl {
        /// The JSONL file.
        file: PathBuf,
        /// Table name (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// Replace a table of that name even if it is of another kind or a bundled benchmark.
        #[arg(long)]
        force: bool,
    },
    /// An evaluation set from a folder of line-aligned LANG.txt files (line i is the same
    /// sentence in every file).
    Parallel {
        /// The folder.
        dir: PathBuf,
        /// Table name (default: the folder name).
        #[arg(long)]
        name: Option<String>,
        /// Replace a table of that name even if it is of another kind or a bundled benchmark.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let bundled = |name: &str| {
        let mut opts = DataOptions::new(&args.data_dir);
        opts.only = vec![name.to_string()];
        opts.force = true;
        opts.offline = true;
        let report = polyret_fetch::fetch_data(&opts)?;
        println!("{report}");
        anyhow::Ok(())
    };
    match &args.source {
        SourceArg::Xquad | SourceArg::XquadR => bundled("xquad"),
        SourceArg::MlqaR => bundled("mlqa-r"),
        SourceArg::Multi30k => bundled("multi30k"),
        SourceArg::Xflickrco => bundled("xflickrco"),
        SourceArg::Tatoeba => bundled("tatoeba"),
        SourceArg::Jsonl { file, name, force } => {
            let name = table_name(name.as_deref(), file)?;
            let table = read_jsonl_pairs(file, &name)?;
            publish(&args.data_dir, table, Source::local(std::slice::from_ref(file))?, *force)
        }
        SourceArg::Parallel { dir, name, force } => {
            let name = table_name(name.as_deref(), dir)?;
            let files: Vec<PathBuf> = language_files(dir)?.into_iter().map(|(p, _)| p).collect();
            let table = read_parallel_dir(dir, &name)?;
            publish(&args.data_dir, table, Source::local(&files)?, *force)
        }
    }
}

/// The given name, or the file/folder name (without extension), checked for use as a directory.
fn table_name(given: Option<&str>, path: &Path) -> anyhow::Result<String> {
    let name = match given {
        Some(n) => n.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .with_context(|| format!("{}: cannot derive a table name; pass --name", path.display()))?,
    };
    validate_table_name(&name).map_err(anyhow::Error::msg)?;
    Ok(name)
}

/// Writes a user table and records it; replacing a table of another kind or a bundled
/// benchmark needs `force`.
fn publish(data_dir: &Path, table: Table, source: Source, force: bool) -> anyhow::Result<()> {
    let mut catalog = Catalog::load_or_new(&data_dir.join("parquet").join(CATALOG_FILE))?;
    let name = table.name.clone();
    let replace = if force { Replace::Any } else { Replace::SameKindUserTable };
    catalog.publish_with(&Ingested { tables: vec![table], xquad_split: None }, &[source], None, replace)?;
    let entry = catalog.table(&name).expect("just published");
    let rows: Vec<String> = entry.rows.iter().map(|(part, n)| format!("{part} {n}")).collect();
    println!(
        "wrote {name} ({}; languages {}) under {}; catalog: {}",
        rows.join(", "),
        entry.languages.join(" "),
        catalog.root().join(&name).display(),
        catalog.path().display()
    );
    Ok(())
}

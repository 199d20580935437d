//! `polyret sample`: writes the batches a sampling strategy produces from pairs tables, one
//! JSON line per batch, so a user can inspect what the model will see during training.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use polyret_ingest::PairRow;
use polyret_sampler::{BatchRecord, GroupIndex, Sampler, SamplerArgs, SamplerError, SamplerState, StreamKind};

/// Write the batches a sampling strategy would produce, one JSON line per batch.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pairs table (`pairs.parquet`); repeat for several sources.
    #[arg(long, value_name = "FILE.parquet", required = true)]
    pairs: Vec<PathBuf>,
    /// Use only rows of this split; `all` uses every row.
    #[arg(long, default_value = "train")]
    split: String,
    #[command(flatten)]
    sampler: SamplerArgs,
    /// Number of batches to write.
    #[arg(long, default_value_t = 2000, value_parser = super::at_least_one::<u64>)]
    batches: u64,
    /// Output file (written under a temporary name, renamed when complete).
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    /// Continue from a state saved by --save-state (same tables and options).
    #[arg(long, value_name = "STATE.json")]
    resume: Option<PathBuf>,
    /// Save the sampler state after the last batch, to continue later with --resume.
    #[arg(long, value_name = "STATE.json")]
    save_state: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.sampler.config()?;
    let rows = read_rows(&args.pairs, &args.split)?;
    let index = Arc::new(group_index(&rows, &args.pairs)?);
    tracing::info!(
        groups = index.len(),
        languages = index.num_languages(),
        sources = index.sources().len(),
        rows = rows.len(),
        "grouped the {} rows",
        args.split
    );
    drop(rows);

    let sampler = match &args.resume {
        None => Sampler::new(Arc::clone(&index), config).map_err(anyhow::Error::from),
        Some(path) => read_state(path).and_then(|state| {
            Sampler::resume(Arc::clone(&index), config, state)
                .with_context(|| format!("resuming from sampler state {}", path.display()))
        }),
    };
    let mut sampler = sampler.with_context(|| format!("sampling from {}", list_paths(&args.pairs)))?;
    for exclusion in sampler.excluded() {
        tracing::warn!("{exclusion}");
    }
    tracing::info!(
        batches_per_epoch = sampler.batches_per_epoch(),
        first_batch = sampler.position(),
        "writing {} batches to {}",
        args.batches,
        args.out.display()
    );

    let progress = ProgressBar::new(args.batches).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} batches {per_sec} eta {eta}").expect("valid template"),
    );
    let writing = || format!("writing batches to {}", args.out.display());
    let mut file = polyret_files::AtomicFile::create(&args.out).with_context(writing)?;
    for _ in 0..args.batches {
        let batch = sampler.next_batch();
        serde_json::to_writer(&mut *file.writer(), &BatchRecord::new(&index, &batch)).with_context(writing)?;
        file.writer().write_all(b"\n").with_context(writing)?;
        progress.inc(1);
    }
    file.commit().with_context(writing)?;
    progress.finish_and_clear();
    tracing::info!("{}", coverage_summary(&sampler));

    if let Some(path) = &args.save_state {
        let state = sampler.state();
        let json = serde_json::to_vec_pretty(&state).expect("a sampler state serialises");
        polyret_files::write_atomic(path, &json)
            .with_context(|| format!("writing sampler state {}", path.display()))?;
        tracing::info!("saved the sampler state (next batch {}) to {}", state.next_batch(), path.display());
    }
    Ok(())
}

fn read_state(path: &Path) -> anyhow::Result<SamplerState> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading sampler state {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing sampler state {}", path.display()))
}

/// Rows of `split` (or all) from every table, with their file and row for error messages.
struct Rows {
    rows: Vec<PairRow>,
    /// `(file position in the path list, row within that file from 0)` of each kept row.
    origins: Vec<(usize, usize)>,
}

impl Rows {
    fn len(&self) -> usize {
        self.rows.len()
    }
}

fn read_rows(paths: &[PathBuf], split: &str) -> anyhow::Result<Rows> {
    let mut kept = Rows { rows: Vec::new(), origins: Vec::new() };
    let mut splits_seen = std::collections::BTreeSet::new();
    for (file, path) in paths.iter().enumerate() {
        let rows =
            polyret_ingest::read_pairs(path).with_context(|| format!("reading pairs table {}", path.display()))?;
        for (at, row) in rows.into_iter().enumerate() {
            if split == "all" || row.split == split {
                kept.rows.push(row);
                kept.origins.push((file, at));
            } else if !splits_seen.contains(&row.split) {
                splits_seen.insert(row.split.clone());
            }
        }
    }
    if kept.rows.is_empty() {
        let present = splits_seen.into_iter().collect::<Vec<_>>().join(", ");
        bail!(
            "no rows of split `{split}` in {} (splits present: {}); choose one with --split, or --split all",
            list_paths(paths),
            if present.is_empty() { "none, the tables are empty".to_owned() } else { present }
        );
    }
    Ok(kept)
}

/// Groups the rows; a duplicate-language error is reported with the files and rows involved.
fn group_index(rows: &Rows, paths: &[PathBuf]) -> anyhow::Result<GroupIndex> {
    polyret_train::group_index(&rows.rows).map_err(|e| {
        let place = match &e {
            SamplerError::DuplicateLanguage { rows: Some((a, b)), .. } => {
                let at = |i: usize| {
                    let (file, row) = rows.origins[i];
                    format!("{} row {}", paths[file].display(), row + 1)
                };
                format!("in {} and {}", at(*a), at(*b))
            }
            _ => format!("in {}", list_paths(paths)),
        };
        anyhow::Error::new(e).context(format!("grouping the training pairs {place}"))
    })
}

/// `mono passes: en 1.50, de 3.02; cross passes: …` (fractional passes per stream).
fn coverage_summary(sampler: &Sampler) -> String {
    let mut summary = String::new();
    for kind in [StreamKind::Mono, StreamKind::Cross] {
        let streams: Vec<String> = sampler
            .coverage()
            .into_iter()
            .filter(|c| c.kind == kind)
            .map(|c| {
                let passes = c.passes as f64 + c.dealt as f64 / c.groups as f64;
                match c.source {
                    Some(source) => format!("{}/{} {passes:.2}", source, c.language),
                    None => format!("{} {passes:.2}", c.language),
                }
            })
            .collect();
        if !streams.is_empty() {
            let _ =
                write!(summary, "{}{kind} passes: {}", if summary.is_empty() { "" } else { "; " }, streams.join(", "));
        }
    }
    summary
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("sample").chain(flags.iter().copied())).map(|c| c.args)
    }

    fn row(group: &str, lang: &str, split: &str) -> PairRow {
        PairRow {
            group_id: group.into(),
            query_lang: lang.into(),
            query: format!("question {group} in {lang}"),
            positive_lang: lang.into(),
            positive: format!("answer {group} in {lang}"),
            negative: None,
            context: None,
            split: split.into(),
            source: "xquad".into(),
        }
    }

    /// 12 train groups in en/de/ar plus 2 test groups, as an ingested table would hold them.
    fn table(dir: &Path) -> PathBuf {
        let mut rows = Vec::new();
        for g in 0..14 {
            let split = if g < 12 { "train" } else { "test" };
            for lang in ["en", "de", "ar"] {
                rows.push(row(&format!("q{g}"), lang, split));
            }
        }
        let path = dir.join("pairs.parquet");
        polyret_ingest::write_pairs(&path, &rows).unwrap();
        path
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The sampler flags are `polyret_sampler::SamplerArgs` (tested there); here, that they
    /// reach the config and that misplaced ones fail.
    #[test]
    fn flags_map_onto_the_config_and_misplaced_flags_fail() {
        let args = parse(&["--pairs", "p.parquet", "--out", "o.jsonl", "--alpha", "0.8", "--seed", "7"]).unwrap();
        let config = args.sampler.config().unwrap();
        assert_eq!(
            config.strategy,
            polyret_sampler::Strategy::Hybrid { alpha: polyret_sampler::AlphaSchedule::Constant(0.8) }
        );
        assert_eq!((config.seed, config.batch_size), (7, 32));
        let x_y_alpha = parse(&["--pairs", "p", "--out", "o", "--strategy", "x-y", "--alpha", "0.3"]).unwrap();
        assert!(x_y_alpha.sampler.config().unwrap_err().to_string().contains("hybrid only"));
        assert!(parse(&["--pairs", "p", "--out", "o", "--weighting", "temperature"]).is_err());
        let names = ["en-en", "x-x", "x-x-mono", "x-y", "hybrid"];
        assert!(names.iter().all(|s| parse(&["--pairs", "p", "--out", "o", "--strategy", s]).is_ok()));
    }

    #[test]
    fn writes_one_line_per_batch_and_resume_continues_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let pairs = table(dir.path());
        let p = pairs.to_str().unwrap();
        let path = |name: &str| dir.path().join(name);
        let flag = |name: &str| path(name).to_str().unwrap().to_owned();
        let base = ["--pairs", p, "--seed", "7", "--alpha", "0.5"];
        let run_sized = |batch_size: &str, extra: &[&str]| {
            run(parse(&[&base[..], &["--batch-size", batch_size], extra].concat()).unwrap())
        };
        let run_with = |extra: &[&str]| run_sized("4", extra);

        run_with(&["--batches", "10", "--out", &flag("all.jsonl")]).unwrap();
        let all = lines(&path("all.jsonl"));
        assert_eq!(all.len(), 10);
        let hidden = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
                .count()
        };
        assert_eq!(hidden(), 0, "no temporary left");
        for (i, line) in all.iter().enumerate() {
            assert_eq!(line["batch"], i as u64);
            let pairs = line["pairs"].as_array().unwrap();
            assert_eq!(pairs.len(), 4);
            let groups: std::collections::HashSet<&str> =
                pairs.iter().map(|p| p["group_id"].as_str().unwrap()).collect();
            assert_eq!(groups.len(), 4, "no group twice in a batch");
            // Test-split groups q12 and q13 are not sampled by default.
            assert!(groups.iter().all(|g| g[1..].parse::<u32>().unwrap() < 12));
            let same = |p: &serde_json::Value| p["query_lang"] == p["passage_lang"];
            match line["kind"].as_str().unwrap() {
                "mono" => assert!(pairs.iter().all(|p| same(p) && p["query_lang"] == pairs[0]["query_lang"])),
                "cross" => assert!(pairs.iter().all(|p| !same(p))),
                other => panic!("hybrid wrote a `{other}` batch"),
            }
        }

        run_with(&["--batches", "4", "--out", &flag("a.jsonl"), "--save-state", &flag("state.json")]).unwrap();
        run_with(&["--batches", "6", "--out", &flag("b.jsonl"), "--resume", &flag("state.json")]).unwrap();
        let resumed: Vec<_> = lines(&path("a.jsonl")).into_iter().chain(lines(&path("b.jsonl"))).collect();
        assert_eq!(resumed, all);

        let other_settings = ["--weighting", "proportional"];
        let err = run_with(
            &[&["--batches", "1", "--out", &flag("c.jsonl"), "--resume", &flag("state.json")], &other_settings[..]]
                .concat(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("different groups or a different configuration"), "{err:#}");
        let err = run_with(&["--batches", "1", "--out", &flag("d.jsonl"), "--split", "val"]).unwrap_err();
        assert!(format!("{err:#}").contains("splits present: test, train"), "{err:#}");
        let err = run_sized("20", &["--batches", "1", "--out", &flag("e.jsonl")]).unwrap_err();
        assert!(format!("{err:#}").contains("en: 12 groups"), "{err:#}");
        assert!(!path("e.jsonl").exists() && hidden() == 0);
    }

    /// Each file is refused such rows at ingestion; two files can still repeat each other's.
    #[test]
    fn duplicate_rows_are_reported_with_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [row("q0", "en", "train"), row("q1", "en", "train"), row("q0", "en", "train")];
        let err = polyret_ingest::write_pairs(&dir.path().join("dup.parquet"), &rows).unwrap_err().to_string();
        assert!(err.contains("rows 1 and 3") && err.contains("`q0`") && err.contains("`en` twice"), "{err}");
        let paths = [dir.path().join("a.parquet"), dir.path().join("b.parquet")];
        polyret_ingest::write_pairs(&paths[0], &rows[..2]).unwrap();
        polyret_ingest::write_pairs(&paths[1], &rows[2..]).unwrap();
        let kept = read_rows(&paths, "train").unwrap();
        let err = group_index(&kept, &paths).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("{} row 1 and {} row 1", paths[0].display(), paths[1].display())), "{msg}");
        assert!(msg.contains("`q0`") && msg.contains("`en` twice"), "{msg}");
    }
}

//! `polyret sample`: writes the batches a sampling strategy produces from pairs tables, one
//! JSON line per batch, so a user can inspect what the model will see during training.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use polyret_ingest::{IngestError, PairRow};
use polyret_sampler::{
    AlphaSchedule, Batch, GroupIndex, LanguageWeighting, Sampler, SamplerConfig, SamplerError, SamplerState,
    SmallLanguagePolicy, Strategy, StreamKind,
};
use serde::Serialize;

/// Write the batches a sampling strategy would produce, one JSON line per batch.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pairs table (`pairs.parquet`); repeat for several sources.
    #[arg(long, value_name = "FILE.parquet", required = true)]
    pairs: Vec<PathBuf>,
    /// Use only rows of this split; `all` uses every row.
    #[arg(long, default_value = "train")]
    split: String,
    /// Batch composition.
    #[arg(long, value_enum, default_value_t = StrategyArg::Hybrid)]
    strategy: StrategyArg,
    /// Hybrid only: probability of a monolingual (X-X-mono) batch [default: 0.5]; with
    /// --alpha-end, the start of a linear ramp.
    #[arg(long)]
    alpha: Option<f64>,
    /// Hybrid only: α at the end of a linear ramp from --alpha over --alpha-ramp batches.
    #[arg(long, requires = "alpha_ramp")]
    alpha_end: Option<f64>,
    /// Hybrid only: length of the α ramp in batches.
    #[arg(long, requires = "alpha_end")]
    alpha_ramp: Option<u64>,
    /// Pairs per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Number of batches to write.
    #[arg(long, default_value_t = 2000, value_parser = super::at_least_one::<u64>)]
    batches: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How languages are drawn.
    #[arg(long, value_enum, default_value_t = WeightingArg::Uniform)]
    weighting: WeightingArg,
    /// Exponent τ of `--weighting temperature` (p ∝ n^τ).
    #[arg(long, required_if_eq("weighting", "temperature"))]
    temperature: Option<f64>,
    /// Draw one source per batch (in proportion to its size) instead of mixing sources.
    #[arg(long)]
    source_per_batch: bool,
    /// Language code of the en-en strategy.
    #[arg(long, default_value = "en")]
    english: String,
    /// Languages with fewer groups than the batch size: fail, or leave them out of the draws.
    #[arg(long, value_enum, default_value_t = SmallArg::Error)]
    small_languages: SmallArg,
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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum StrategyArg {
    /// English monolingual pairs only.
    #[value(name = "en-en")]
    EnEn,
    /// Monolingual pairs, languages mixed within a batch.
    #[value(name = "x-x")]
    XX,
    /// Monolingual pairs, one language per batch.
    #[value(name = "x-x-mono")]
    XXMono,
    /// Cross-lingual pairs only.
    #[value(name = "x-y")]
    XY,
    /// X-X-mono batches with probability α, X-Y batches otherwise.
    #[value(name = "hybrid")]
    Hybrid,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum WeightingArg {
    /// Every language equally often.
    Uniform,
    /// Languages in proportion to their number of groups.
    Proportional,
    /// p ∝ n^τ (set τ with --temperature).
    Temperature,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SmallArg {
    /// Fail, listing the languages.
    Error,
    /// Leave them out (logged as warnings).
    Exclude,
}

/// One output line.
#[derive(Serialize)]
struct BatchLine<'a> {
    batch: u64,
    epoch: u64,
    kind: &'static str,
    pairs: Vec<PairLine<'a>>,
}

#[derive(Serialize)]
struct PairLine<'a> {
    group_id: &'a str,
    source: &'a str,
    query_lang: &'a str,
    passage_lang: &'a str,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = sampler_config(&args)?;
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
    polyret_ingest::io::write_atomic(&args.out, |out| {
        for _ in 0..args.batches {
            let batch = sampler.next_batch();
            serde_json::to_writer(&mut *out, &batch_line(&index, &batch))
                .map_err(|e| IngestError::io(&args.out, e.into()))?;
            out.write_all(b"\n").map_err(|e| IngestError::io(&args.out, e))?;
            progress.inc(1);
        }
        Ok(())
    })
    .with_context(|| format!("writing batches to {}", args.out.display()))?;
    progress.finish_and_clear();
    tracing::info!("{}", coverage_summary(&sampler));

    if let Some(path) = &args.save_state {
        let state = sampler.state();
        polyret_ingest::io::write_atomic(path, |out| {
            serde_json::to_writer_pretty(&mut *out, &state).map_err(|e| IngestError::io(path, e.into()))
        })
        .with_context(|| format!("writing sampler state {}", path.display()))?;
        tracing::info!("saved the sampler state (next batch {}) to {}", state.next_batch(), path.display());
    }
    Ok(())
}

fn read_state(path: &Path) -> anyhow::Result<SamplerState> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading sampler state {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing sampler state {}", path.display()))
}

/// The sampler configuration the flags describe; rejects flags that do not apply.
fn sampler_config(args: &Args) -> anyhow::Result<SamplerConfig> {
    let hybrid = args.strategy == StrategyArg::Hybrid;
    if !hybrid && (args.alpha.is_some() || args.alpha_end.is_some()) {
        bail!("--alpha, --alpha-end and --alpha-ramp apply to --strategy hybrid only");
    }
    if args.temperature.is_some() && args.weighting != WeightingArg::Temperature {
        bail!("--temperature applies to --weighting temperature only");
    }
    let alpha = args.alpha.unwrap_or(0.5);
    let strategy = match args.strategy {
        StrategyArg::EnEn => Strategy::EnEn,
        StrategyArg::XX => Strategy::XX,
        StrategyArg::XXMono => Strategy::XXMono,
        StrategyArg::XY => Strategy::XY,
        StrategyArg::Hybrid => Strategy::Hybrid {
            alpha: match (args.alpha_end, args.alpha_ramp) {
                (Some(end), Some(batches)) => AlphaSchedule::Linear { start: alpha, end, batches },
                _ => AlphaSchedule::Constant(alpha),
            },
        },
    };
    let mut config = SamplerConfig::new(strategy, args.batch_size, args.seed);
    config.language_weighting = match args.weighting {
        WeightingArg::Uniform => LanguageWeighting::Uniform,
        WeightingArg::Proportional => LanguageWeighting::Proportional,
        WeightingArg::Temperature => {
            LanguageWeighting::Temperature(args.temperature.context("--weighting temperature needs --temperature")?)
        }
    };
    config.source_per_batch = args.source_per_batch;
    config.english.clone_from(&args.english);
    config.small_languages = match args.small_languages {
        SmallArg::Error => SmallLanguagePolicy::Error,
        SmallArg::Exclude => SmallLanguagePolicy::Exclude,
    };
    Ok(config)
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
    let tuples = rows
        .rows
        .iter()
        .map(|r| (r.group_id.as_str(), r.query_lang.as_str(), r.positive_lang.as_str(), r.source.as_str()));
    GroupIndex::from_rows(tuples).map_err(|e| {
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

fn batch_line<'a>(index: &'a GroupIndex, batch: &Batch) -> BatchLine<'a> {
    BatchLine {
        batch: batch.index,
        epoch: batch.epoch,
        kind: batch.kind.as_str(),
        pairs: batch
            .pairs
            .iter()
            .map(|p| PairLine {
                group_id: index.group_id(p.group),
                source: index.group_source(p.group),
                query_lang: index.lang_code(p.query_lang),
                passage_lang: index.lang_code(p.passage_lang),
            })
            .collect(),
    }
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

    #[test]
    fn flags_map_onto_the_config_and_misplaced_flags_fail() {
        let args = parse(&[
            "--pairs",
            "p.parquet",
            "--out",
            "o.jsonl",
            "--alpha",
            "0.8",
            "--alpha-end",
            "0.2",
            "--alpha-ramp",
            "100",
            "--weighting",
            "temperature",
            "--temperature",
            "0.3",
            "--small-languages",
            "exclude",
            "--seed",
            "7",
        ])
        .unwrap();
        let config = sampler_config(&args).unwrap();
        assert_eq!(
            config.strategy,
            Strategy::Hybrid { alpha: AlphaSchedule::Linear { start: 0.8, end: 0.2, batches: 100 } }
        );
        assert_eq!(config.language_weighting, LanguageWeighting::Temperature(0.3));
        assert_eq!((config.seed, config.batch_size), (7, 32));
        assert_eq!(config.small_languages, SmallLanguagePolicy::Exclude);

        let x_y_alpha = parse(&["--pairs", "p", "--out", "o", "--strategy", "x-y", "--alpha", "0.3"]).unwrap();
        assert!(sampler_config(&x_y_alpha).unwrap_err().to_string().contains("hybrid only"));
        let stray_tau = parse(&["--pairs", "p", "--out", "o", "--temperature", "0.3"]).unwrap();
        assert!(sampler_config(&stray_tau).unwrap_err().to_string().contains("temperature only"));
        assert!(parse(&["--pairs", "p", "--out", "o", "--weighting", "temperature"]).is_err());
        assert!(parse(&["--pairs", "p", "--out", "o", "--alpha-end", "0.1"]).is_err());
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

//! `results/REPORT.md` and `results/summary.json` from the study's runs, one section per regime
//! (top 2 layers trained, full fine-tuning): per benchmark the three settings' mAP and the
//! language bias as mean ± sd over seeds, paired randomization tests of Hybrid(0.5) against each
//! baseline with the sign of every seed's difference, Δ heatmaps and α plots, plain statements of
//! which of the paper's claims held, the paper's published numbers beside ours, and whether the
//! X-Y-versus-Hybrid conclusion depends on how much of the network is trained.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use polyret_evaluator::compare::{LoadedResults, randomization_test};
use polyret_evaluator::{EvalReport, Metric, QueryUnit, Setting, setting_weights};
use serde_json::json;

use super::figures::{self, AlphaPanel};
use super::{RunSpec, STRATEGIES};

/// Permutations of each randomization test.
const PERMUTATIONS: usize = 10_000;
/// The hybrid setting the paper recommends, tested against each baseline.
const HYBRID: &str = "hybrid-0.5";
/// Baselines Hybrid(0.5) is compared with, in table order.
const BASELINES: [&str; 3] = ["x-x-mono", "x-y", "x-x"];
const REFERENCE: &str = "reference";

/// One regime of the study: which runs it has and where they are.
pub struct Regime {
    /// `top-2` or `full` (file names, JSON keys).
    pub key: &'static str,
    /// Section title.
    pub title: &'static str,
    /// What the regime trains, one paragraph.
    pub description: &'static str,
    /// Its runs directory (where runs train; the report reads the runs' records).
    pub runs: PathBuf,
    /// Where its runs' records are (`results/runs/<key>`).
    pub records: PathBuf,
    /// Every run of its grid, finished or not.
    pub specs: Vec<RunSpec>,
}

/// One evaluation of a finished run.
struct Eval {
    seed: u64,
    loaded: LoadedResults,
}

impl Eval {
    fn report(&self) -> &EvalReport {
        &self.loaded.report
    }
}

/// Every evaluation of one benchmark, by model (strategy name or `reference`), one per seed.
type Evaluations = BTreeMap<String, Vec<Eval>>;

/// A regime's finished runs and their evaluations, by benchmark.
struct Loaded<'a> {
    regime: &'a Regime,
    done: Vec<&'a RunSpec>,
    benchmarks: BTreeMap<String, Evaluations>,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let m = mean(xs);
    let n = xs.len() as f64;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

fn fmt_ms(xs: &[f64], digits: usize) -> String {
    if xs.is_empty() {
        return "—".into();
    }
    let (m, s) = mean_sd(xs);
    if xs.len() == 1 { format!("{m:.digits$}") } else { format!("{m:.digits$} ± {s:.digits$}") }
}

fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "—".into(),
        Some(p) if p < 0.001 => "< 0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

/// A measure of one evaluation: a setting's mAP or the maximum rank distance.
#[derive(Clone, Copy, PartialEq)]
enum Measure {
    Map(Setting),
    RankDistance,
}

impl Measure {
    const ALL: [Measure; 4] = [
        Measure::Map(Setting::Multilingual),
        Measure::Map(Setting::Monolingual),
        Measure::Map(Setting::Crosslingual),
        Measure::RankDistance,
    ];

    fn of(self, r: &EvalReport) -> Option<f64> {
        match self {
            Measure::Map(s) => r.scores.get(&s).map(|v| v.main_score),
            Measure::RankDistance => r.bias.as_ref().and_then(|b| b.max_rank_distance),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::Map(s) => s.name(),
            Measure::RankDistance => "max_rank_distance",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Measure::Map(Setting::Multilingual) => "multilingual mAP",
            Measure::Map(Setting::Monolingual) => "monolingual mAP",
            Measure::Map(Setting::Crosslingual) => "cross-lingual mAP",
            Measure::RankDistance => "max rank distance",
        }
    }

    /// Whether a larger value is better.
    fn higher_is_better(self) -> bool {
        matches!(self, Measure::Map(_))
    }
}

fn values(runs: &[Eval], measure: Measure) -> Vec<f64> {
    runs.iter().filter_map(|r| measure.of(r.report())).collect()
}

/// Hybrid(0.5) minus a baseline on one measure: the difference of the seed means, the
/// randomization test over queries (mAP only), and each seed's own difference.
struct Delta {
    delta: f64,
    p: Option<f64>,
    /// (seed, Hybrid minus baseline); paired by seed, or against the baseline's only run.
    per_seed: Vec<(u64, f64)>,
}

impl Delta {
    fn between(hybrid: &[Eval], base: &[Eval], measure: Measure) -> Option<Delta> {
        let (a, b) = (values(hybrid, measure), values(base, measure));
        if a.is_empty() || b.is_empty() {
            return None;
        }
        let mut per_seed = Vec::new();
        for h in hybrid {
            let partner = base.iter().find(|r| r.seed == h.seed).or(if base.len() == 1 { base.first() } else { None });
            if let (Some(x), Some(y)) = (measure.of(h.report()), partner.and_then(|r| measure.of(r.report()))) {
                per_seed.push((h.seed, x - y));
            }
        }
        let p = match measure {
            Measure::Map(s) => p_value(hybrid, base, s),
            Measure::RankDistance => None,
        };
        Some(Delta { delta: mean(&a) - mean(&b), p, per_seed })
    }

    /// `+ + −`: the sign of each seed's difference.
    fn signs(&self) -> String {
        self.per_seed
            .iter()
            .map(|(_, d)| {
                if *d > 0.0 {
                    "+"
                } else if *d < 0.0 {
                    "−"
                } else {
                    "0"
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether every seed's difference has the sign of the mean difference.
    fn consistent(&self) -> bool {
        self.per_seed.iter().all(|(_, d)| d.signum() == self.delta.signum())
    }

    fn seed_summary(&self) -> String {
        let n = self.per_seed.len();
        let same = self.per_seed.iter().filter(|(_, d)| d.signum() == self.delta.signum()).count();
        if n == 1 { "1 seed".into() } else { format!("same sign in {same} of {n} seeds") }
    }

    fn cell(&self, measure: Measure) -> String {
        let digits = if measure.higher_is_better() { 4 } else { 1 };
        match self.p {
            Some(p) => format!("{:+.digits$} ({}) [{}]", self.delta, fmt_p(Some(p)), self.signs()),
            None => format!("{:+.digits$} [{}]", self.delta, self.signs()),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({"delta": self.delta, "p": self.p, "per_seed": self.per_seed.iter().map(|(s, d)| json!({"seed": s, "delta": d})).collect::<Vec<_>>()})
    }
}

/// Per-query values of `metric` in `setting`, averaged over the seeds, aligned on run query ids.
fn per_query_means(runs: &[Eval], setting: Setting, metric: Metric) -> BTreeMap<String, (QueryUnit, f64)> {
    let mut sums: BTreeMap<String, (QueryUnit, f64, usize)> = BTreeMap::new();
    for r in runs {
        for u in r.loaded.units.iter().filter(|u| u.setting == setting) {
            let entry = sums.entry(u.run_qid.clone()).or_insert_with(|| (u.clone(), 0.0, 0));
            entry.1 += u.values[metric as usize];
            entry.2 += 1;
        }
    }
    sums.into_iter().map(|(k, (u, s, n))| (k, (u, s / n as f64))).collect()
}

/// Two-sided paired randomization test of the setting's mAP of `a` vs `b` (seed-averaged).
fn p_value(a: &[Eval], b: &[Eval], setting: Setting) -> Option<f64> {
    let a = per_query_means(a, setting, Metric::Map);
    let b = per_query_means(b, setting, Metric::Map);
    let common: Vec<&String> = a.keys().filter(|k| b.contains_key(*k)).collect();
    if common.is_empty() {
        return None;
    }
    let units: Vec<&QueryUnit> = common.iter().map(|k| &a[*k].0).collect();
    let weights = setting_weights(&units);
    let xs: Vec<f64> = common.iter().map(|k| a[*k].1).collect();
    let ys: Vec<f64> = common.iter().map(|k| b[*k].1).collect();
    Some(randomization_test(&xs, &ys, &weights, PERMUTATIONS, 7))
}

/// Loads the evaluations of a regime's finished runs: benchmark → model → one result per seed.
fn load(regime: &Regime) -> anyhow::Result<Loaded<'_>> {
    // Only finished runs: an interrupted one may hold some of its evaluations.
    let done: Vec<&RunSpec> = regime.specs.iter().filter(|s| super::record::is_recorded(&s.record)).collect();
    let mut benchmarks: BTreeMap<String, Evaluations> = BTreeMap::new();
    for spec in &done {
        let eval = spec.record.join("eval");
        for (label, bench) in super::record::evaluations(&eval)? {
            let model = if label.contains('+') { spec.strategy.clone() } else { REFERENCE.to_string() };
            let dir = eval.join(&label).join(&bench);
            let loaded = super::record::read_evaluation(&dir).with_context(|| format!("reading {}", dir.display()))?;
            benchmarks
                .entry(loaded.report.task_name.clone())
                .or_default()
                .entry(model)
                .or_default()
                .push(Eval { seed: spec.seed, loaded });
        }
    }
    for evals in benchmarks.values_mut() {
        for runs in evals.values_mut() {
            runs.sort_by_key(|r| r.seed);
        }
    }
    Ok(Loaded { regime, done, benchmarks })
}

/// The languages of the config's training tables, from the catalog (every run trains on the same
/// data).
pub fn training_languages(config: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let value: toml::Table = toml::from_str(&text)?;
    let sources: Vec<String> = value["data"]["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    let data_dir = value.get("data").and_then(|d| d.get("dir")).and_then(|d| d.as_str()).unwrap_or("data");
    let catalog =
        polyret_ingest::Catalog::load(&Path::new(data_dir).join("parquet").join(polyret_ingest::CATALOG_FILE))?;
    let mut langs = BTreeSet::new();
    for source in &sources {
        let entry = catalog.table(source).with_context(|| format!("{source} is not in the catalog"))?;
        langs.extend(entry.languages.iter().cloned());
    }
    Ok(langs)
}

/// Mean of the Q×C cells (Q ≠ C) whose languages are all seen in training (`unseen = false`),
/// or that involve at least one unseen language (`unseen = true`).
fn cross_by_seen(r: &EvalReport, seen: &BTreeSet<String>, unseen: bool) -> Option<f64> {
    let m = &r.matrix;
    let cells = m.metric(Metric::Map);
    let mut values = Vec::new();
    for (qi, q) in m.query_langs.iter().enumerate() {
        for (ci, c) in m.corpus_langs.iter().enumerate() {
            if q == c {
                continue;
            }
            let involves_unseen = !seen.contains(q) || !seen.contains(c);
            if involves_unseen == unseen
                && let Some(v) = cells.get(qi).and_then(|row| row.get(ci)).copied().flatten()
            {
                values.push(v);
            }
        }
    }
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// A Q×C matrix: query languages (rows), corpus languages (columns), cells.
type Matrix = (Vec<String>, Vec<String>, Vec<Vec<Option<f64>>>);

/// The seed-mean Q×C mAP matrix of `runs` (all evaluations of one benchmark share the layout).
fn mean_matrix(runs: &[Eval]) -> Option<Matrix> {
    let first = &runs.first()?.report().matrix;
    let mut out = vec![vec![None; first.corpus_langs.len()]; first.query_langs.len()];
    for (qi, row) in out.iter_mut().enumerate() {
        for (ci, cell) in row.iter_mut().enumerate() {
            let xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| {
                    r.report().matrix.metric(Metric::Map).get(qi).and_then(|row| row.get(ci)).copied().flatten()
                })
                .collect();
            *cell = (xs.len() == runs.len()).then(|| mean(&xs));
        }
    }
    Some((first.query_langs.clone(), first.corpus_langs.clone(), out))
}

fn model_order() -> Vec<String> {
    std::iter::once(REFERENCE.to_string()).chain(STRATEGIES.iter().map(|s| s.0.to_string())).collect()
}

fn display_name(model: &str) -> String {
    match model {
        REFERENCE => "e5-small zero-shot (reference)".into(),
        "x-x" => "X-X".into(),
        "x-x-mono" => "X-X-mono".into(),
        "x-y" => "X-Y".into(),
        other => other.strip_prefix("hybrid-").map_or(other.to_string(), |a| format!("Hybrid(α = {a})")),
    }
}

/// α of a model on the plot's axis: X-Y is Hybrid(0), X-X-mono is Hybrid(1).
fn alpha_of(model: &str) -> Option<f64> {
    match model {
        "x-y" => Some(0.0),
        "x-x-mono" => Some(1.0),
        other => other.strip_prefix("hybrid-").and_then(|a| a.parse().ok()),
    }
}

/// What a report is written from.
pub struct Study<'a> {
    /// The shared config (named in the setup).
    pub config: &'a Path,
    /// The languages seen in training ([`training_languages`]).
    pub seen: BTreeSet<String>,
    /// The regimes, each with its runs.
    pub regimes: Vec<Regime>,
    /// The command line, quoted in the report.
    pub command: String,
}

/// Writes the report and the machine-readable summary from every regime's finished runs.
pub fn write(results: &Path, study: &Study<'_>, seconds: f64) -> anyhow::Result<()> {
    let (config, seen, command) = (study.config, &study.seen, study.command.as_str());
    let loaded: Vec<Loaded<'_>> = study.regimes.iter().map(load).collect::<anyhow::Result<_>>()?;
    if loaded.iter().all(|l| l.benchmarks.is_empty()) {
        bail!("no evaluations found under the run directories");
    }
    std::fs::create_dir_all(results.join("figures"))?;
    let mut md = String::new();
    let mut summary = json!({"command": command, "training_languages": seen, "regimes": {}});

    let _ = writeln!(md, "# Hybrid vs standard batching for multilingual retrieval: Polyret study\n");
    let counts: Vec<String> = loaded
        .iter()
        .map(|l| {
            let minutes = run_minutes(&l.done);
            format!(
                "{}: {} of {} runs ({:.1} min of wall time)",
                l.regime.title.to_lowercase(),
                l.done.len(),
                l.regime.specs.len(),
                minutes
            )
        })
        .collect();
    let _ = writeln!(
        md,
        "Generated by `{command}` (this file is written by the command; do not edit it by hand) from the runs \
         recorded under `{}`: {}; on {}.\n",
        results.join("runs").display(),
        counts.join("; "),
        machines(&loaded)
    );
    let _ = writeln!(md, "{}", SETUP.replace("{config}", &config.display().to_string()));
    for l in &loaded {
        let seeds: BTreeSet<u64> = l.regime.specs.iter().map(|s| s.seed).collect();
        let _ = writeln!(
            md,
            "  - **{}** ({} runs, seeds {}). {}",
            l.regime.title,
            l.regime.specs.len(),
            seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            l.regime.description
        );
    }
    let _ = writeln!(md, "\nLanguages seen in training: {}.\n", seen.iter().cloned().collect::<Vec<_>>().join(" "));

    paper_section(&mut md, &loaded, &mut summary);
    for l in &loaded {
        let regime_json = regime_section(&mut md, results, l, seen)?;
        summary["regimes"][l.regime.key] = regime_json;
    }
    dependence_section(&mut md, &loaded, &mut summary);
    runs_section(&mut md, &loaded, &mut summary);
    summary["command_wall_seconds"] = json!(seconds);
    write_atomic(&results.join("REPORT.md"), md.as_bytes())?;
    write_atomic(&results.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(())
}

/// A JSON file of a run's record, if it is there and parses.
fn record_json(spec: &RunSpec, file: &str) -> Option<serde_json::Value> {
    std::fs::read_to_string(spec.record.join(file)).ok().and_then(|t| serde_json::from_str(&t).ok())
}

/// Mean logged training loss over the first and the last 10% of a recorded run's steps, from its
/// `metrics.jsonl` (one line per `training.log_every` steps, kept across sittings). The trainer's
/// own `loss_first_tenth` covers only its last sitting, so a resumed run would show a mid-run
/// loss as its start.
fn logged_loss_tenths(spec: &RunSpec) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(spec.record.join("metrics.jsonl")).ok()?;
    let rows: Vec<(u64, f64)> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|row| Some((row["step"].as_u64()?, row["loss"].as_f64()?)))
        .collect();
    let steps = rows.iter().map(|&(step, _)| step).max()?;
    let tenth = (steps / 10).max(1);
    let mean = |keep: &dyn Fn(u64) -> bool| {
        let losses: Vec<f64> = rows.iter().filter(|&&(step, _)| keep(step)).map(|&(_, loss)| loss).collect();
        (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64)
    };
    Some((mean(&|step| step <= tenth)?, mean(&|step| step > steps - tenth)?))
}

/// A recorded run's `timing.json`.
fn timing(spec: &RunSpec) -> Option<serde_json::Value> {
    record_json(spec, "timing.json")
}

fn run_minutes(done: &[&RunSpec]) -> f64 {
    done.iter().filter_map(|s| timing(s)).filter_map(|v| v["wall_seconds"].as_f64()).sum::<f64>() / 60.0 + 0.0 // an empty sum is −0.0
}

/// The machines the recorded runs ran on ("AMD EPYC, 2 CPU cores (12 runs); …"), from their
/// timing; this machine when no run says.
fn machines(loaded: &[Loaded<'_>]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for spec in loaded.iter().flat_map(|l| &l.done) {
        if let Some(t) = timing(spec)
            && let (Some(cpu), Some(cores)) = (t["cpu"].as_str(), t["cores"].as_u64())
        {
            *counts.entry(format!("{cpu}, {cores} CPU cores")).or_default() += 1;
        }
    }
    if counts.is_empty() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        return format!("this machine ({}, {cores} CPU cores)", cpu_model());
    }
    let runs = |n: usize| if n == 1 { "1 run".to_string() } else { format!("{n} runs") };
    counts.iter().map(|(m, &n)| format!("{m} ({})", runs(n))).collect::<Vec<_>>().join("; ")
}

/// One regime: per benchmark the results table, Hybrid(0.5) against each baseline, Δ heatmaps
/// and the α plot; then which of the paper's claims held.
fn regime_section(
    md: &mut String,
    results: &Path,
    l: &Loaded<'_>,
    seen: &BTreeSet<String>,
) -> anyhow::Result<serde_json::Value> {
    let key = l.regime.key;
    let _ = writeln!(md, "## {}\n", l.regime.title);
    let _ = writeln!(
        md,
        "{} of {} runs finished (trained in `{}`, recorded in `{}`).\n",
        l.done.len(),
        l.regime.specs.len(),
        l.regime.runs.display(),
        l.regime.records.display()
    );
    let mut regime_json = json!({"runs_finished": l.done.len(), "runs": l.regime.specs.len(), "benchmarks": {}});
    if l.benchmarks.is_empty() {
        let _ = writeln!(md, "No run of this regime has finished yet.\n");
        return Ok(regime_json);
    }
    let mut claims: Vec<String> = Vec::new();
    for (bench, evals) in &l.benchmarks {
        let first = evals.values().flatten().next().map(Eval::report).expect("non-empty");
        let langs = &first.dataset.languages;
        let unseen: Vec<&str> = langs.iter().filter(|l| !seen.contains(*l)).map(String::as_str).collect();
        let _ = writeln!(md, "### {bench} ({})\n", l.regime.title.to_lowercase());
        let _ = writeln!(
            md,
            "{} queries, {} documents; languages {}{}.\n",
            first.dataset.queries,
            first.dataset.documents,
            langs.join(" "),
            if unseen.is_empty() { String::new() } else { format!(" (never seen in training: {})", unseen.join(" ")) }
        );
        let tatoeba = bench.starts_with("tatoeba");
        let mut header = String::from(
            "| model | seeds | multilingual mAP | monolingual mAP | cross-lingual mAP | max rank distance ↓ |",
        );
        if !unseen.is_empty() {
            header.push_str(" cross mAP, seen languages | cross mAP, with unseen |");
        }
        if tatoeba {
            header.push_str(" accuracy (cross-lingual success@1) |");
        }
        let _ = writeln!(md, "{header}");
        let _ = writeln!(md, "|{}", "---|".repeat(header.matches('|').count() - 1));
        let mut bench_json = serde_json::Map::new();
        for model in model_order() {
            let Some(runs) = evals.get(&model) else { continue };
            let col = |f: &dyn Fn(&EvalReport) -> Option<f64>| -> Vec<f64> {
                runs.iter().filter_map(|r| f(r.report())).collect()
            };
            let [multi, mono, cross, rank] = Measure::ALL.map(|m| values(runs, m));
            let seen_cross = col(&|r| cross_by_seen(r, seen, false));
            let unseen_cross = col(&|r| cross_by_seen(r, seen, true));
            let accuracy = col(&|r| r.scores.get(&Setting::Crosslingual).map(|s| s.scores.get(Metric::SuccessAt1)));
            let mut row = format!(
                "| {} | {} | {} | {} | {} | {} |",
                display_name(&model),
                runs.len(),
                fmt_ms(&multi, 4),
                fmt_ms(&mono, 4),
                fmt_ms(&cross, 4),
                fmt_ms(&rank, 1)
            );
            if !unseen.is_empty() {
                let _ = write!(row, " {} | {} |", fmt_ms(&seen_cross, 4), fmt_ms(&unseen_cross, 4));
            }
            if tatoeba {
                let _ = write!(row, " {} |", fmt_ms(&accuracy, 4));
            }
            let _ = writeln!(md, "{row}");
            bench_json.insert(
                model.clone(),
                json!({"seeds": runs.iter().map(|r| r.seed).collect::<Vec<_>>(), "multilingual_map": multi,
                       "monolingual_map": mono, "crosslingual_map": cross, "max_rank_distance": rank,
                       "crosslingual_map_seen": seen_cross, "crosslingual_map_unseen": unseen_cross,
                       "crosslingual_success_at_1": accuracy}),
            );
        }
        let _ = writeln!(md);
        if let Some(hybrid) = evals.get(HYBRID) {
            let _ = writeln!(
                md,
                "Hybrid(α = 0.5) minus each baseline: difference of the seed means, the two-sided paired randomization-test \
                 p-value over queries (per-query values averaged over seeds, {PERMUTATIONS} sign flips) and, in brackets, \
                 the sign of each seed's own difference (seed by seed; against a baseline with one run, every Hybrid seed \
                 against that run):\n"
            );
            let _ = writeln!(
                md,
                "| baseline | Δ multilingual mAP | Δ monolingual mAP | Δ cross-lingual mAP | Δ max rank distance |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|");
            let mut tests = serde_json::Map::new();
            for base in BASELINES.iter().copied().chain(std::iter::once(REFERENCE)) {
                let Some(other) = evals.get(base) else { continue };
                let deltas = Measure::ALL.map(|m| Delta::between(hybrid, other, m));
                let cells: Vec<String> = Measure::ALL
                    .iter()
                    .zip(&deltas)
                    .map(|(m, d)| d.as_ref().map_or("—".into(), |d| d.cell(*m)))
                    .collect();
                let _ = writeln!(md, "| {} | {} |", display_name(base), cells.join(" | "));
                let mut test_json = serde_json::Map::new();
                for (m, d) in Measure::ALL.iter().zip(&deltas) {
                    if let Some(d) = d {
                        test_json.insert(m.name().into(), d.json());
                        claim(&mut claims, bench, base, *m, d);
                    }
                }
                tests.insert(base.to_string(), serde_json::Value::Object(test_json));
            }
            bench_json.insert("hybrid_0.5_minus".into(), serde_json::Value::Object(tests));
            let _ = writeln!(md);
        }
        figures_for(md, results, key, bench, evals)?;
        regime_json["benchmarks"][bench] = serde_json::Value::Object(bench_json);
    }
    let _ = writeln!(md, "### Which of the paper's claims held ({})\n", l.regime.title.to_lowercase());
    let _ = writeln!(md, "{CLAIMS_INTRO}\n");
    for c in &claims {
        let _ = writeln!(md, "- {c}");
    }
    if claims.is_empty() {
        let _ = writeln!(md, "None can be judged yet: no run of Hybrid(0.5) and a baseline has finished.");
    }
    let _ = writeln!(md);
    regime_json["claims"] = json!(claims);
    Ok(regime_json)
}

/// A sentence for each comparison the study makes: the paper's claims (Hybrid ≥ X-X-mono on
/// cross-lingual and multilingual, Hybrid ≥ X-Y on monolingual, Hybrid's rank distance below
/// X-X-mono's) and ours (Hybrid against X-Y and against X-X on every measure).
fn claim(claims: &mut Vec<String>, bench: &str, base: &str, measure: Measure, d: &Delta) {
    let paper = matches!(
        (base, measure),
        ("x-x-mono", Measure::Map(Setting::Crosslingual | Setting::Multilingual) | Measure::RankDistance)
            | ("x-y", Measure::Map(Setting::Monolingual))
    );
    if !paper && base != "x-y" && base != "x-x" {
        return;
    }
    let better = if measure.higher_is_better() { d.delta > 0.0 } else { d.delta < 0.0 };
    let seeds = d.seed_summary();
    // Each outcome as (the paper's claim, our comparison) words.
    let text = match d.p {
        Some(p) => {
            let (claim, ours) = match (better, p < 0.05) {
                (true, true) => ("held", "Hybrid better"),
                (false, true) => ("did not hold (significantly worse)", "Hybrid worse"),
                (_, false) => ("not shown (difference not significant)", "no significant difference"),
            };
            let verdict = if paper { claim } else { ours };
            format!("Δ {:+.4}, p {}, {seeds}: **{verdict}**", d.delta, fmt_p(Some(p)))
        }
        None => {
            let (claim, ours) = match (better, d.consistent() && d.per_seed.len() > 1) {
                (true, true) => ("held", "Hybrid less biased"),
                (true, false) => {
                    ("held on the mean, not in every seed", "Hybrid less biased on the mean, not in every seed")
                }
                (false, _) => ("did not hold", "Hybrid more biased"),
            };
            let verdict = if paper { claim } else { ours };
            format!("Δ {:+.1} ranks, {seeds}: **{verdict}**", d.delta)
        }
    };
    let what = match measure {
        Measure::RankDistance => "max rank distance (lower is less biased)".to_string(),
        m => m.label().to_string(),
    };
    let who = if paper { "paper's claim" } else { "ours" };
    claims.push(format!("{bench}, Hybrid(0.5) vs {}, {what} ({who}): {text}.", display_name(base)));
}

/// Δ heatmaps (Hybrid(0.5) minus X-Y and minus X-X-mono, seed means) and the α plot.
fn figures_for(md: &mut String, results: &Path, regime: &str, bench: &str, evals: &Evaluations) -> anyhow::Result<()> {
    let mut shown = Vec::new();
    if let Some((rows, cols, hybrid)) = evals.get(HYBRID).and_then(|r| mean_matrix(r)) {
        for base in ["x-y", "x-x-mono"] {
            let Some((_, _, other)) = evals.get(base).and_then(|r| mean_matrix(r)) else { continue };
            let delta: Vec<Vec<Option<f64>>> = hybrid
                .iter()
                .zip(&other)
                .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x.zip(*y).map(|(x, y)| x - y)).collect())
                .collect();
            if delta.iter().flatten().all(Option::is_none) {
                continue;
            }
            let title = format!("{bench}, {regime}: Hybrid(0.5) minus {} (mean over seeds)", display_name(base));
            let name = format!("{regime}-{bench}-hybrid-minus-{base}.svg");
            write_atomic(
                &results.join("figures").join(&name),
                figures::delta_heatmap(&title, &rows, &cols, &delta).as_bytes(),
            )?;
            shown.push(format!("![{title}](figures/{name})"));
        }
    }
    let panel = |measure: Measure| AlphaPanel {
        label: format!("{}{}", measure.label(), if measure.higher_is_better() { "" } else { " (lower: less biased)" }),
        points: {
            let mut points: Vec<(f64, Vec<f64>)> = evals
                .iter()
                .filter_map(|(model, runs)| alpha_of(model).map(|a| (a, values(runs, measure))))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points
        },
        reference: evals
            .get("x-x")
            .map(|r| values(r, measure))
            .filter(|v| !v.is_empty())
            .map(|v| ("X-X".to_string(), mean(&v))),
    };
    let panels: Vec<AlphaPanel> = [Measure::Map(Setting::Multilingual), Measure::RankDistance]
        .map(panel)
        .into_iter()
        .filter(|p| p.points.len() > 1)
        .collect();
    if !panels.is_empty() {
        let title =
            format!("{bench}, {regime}: α against multilingual mAP and max rank distance (dots: seeds; bars: ± sd)");
        let name = format!("{regime}-{bench}-alpha.svg");
        write_atomic(&results.join("figures").join(&name), figures::alpha_plot(&title, &panels).as_bytes())?;
        shown.push(format!("![{title}](figures/{name})"));
    }
    if !shown.is_empty() {
        let _ = writeln!(md, "{}\n", shown.join("\n"));
    }
    Ok(())
}

/// The paper's Tables 1–2: (benchmark, encoder, strategy) → mono, cross, multi mAP and max rank
/// distance.
const PAPER: &[(&str, &str, &str, [f64; 4])] = &[
    ("xquad-r", "XLM-R", "x-x-mono", [0.792, 0.674, 0.547, 410.2]),
    ("xquad-r", "XLM-R", "x-y", [0.755, 0.700, 0.593, 295.4]),
    ("xquad-r", "XLM-R", "hybrid-0.5", [0.798, 0.705, 0.593, 286.6]),
    ("xquad-r", "LaBSE", "x-x-mono", [0.808, 0.752, 0.652, 261.5]),
    ("xquad-r", "LaBSE", "x-y", [0.801, 0.762, 0.679, 225.2]),
    ("xquad-r", "LaBSE", "hybrid-0.5", [0.817, 0.767, 0.682, 221.1]),
    ("mlqa-r", "XLM-R", "x-x-mono", [0.648, 0.584, 0.473, 287.5]),
    ("mlqa-r", "XLM-R", "x-y", [0.626, 0.620, 0.508, 226.7]),
    ("mlqa-r", "XLM-R", "hybrid-0.5", [0.648, 0.623, 0.512, 227.1]),
    ("mlqa-r", "LaBSE", "x-x-mono", [0.681, 0.656, 0.550, 225.3]),
    ("mlqa-r", "LaBSE", "x-y", [0.671, 0.677, 0.576, 198.3]),
    ("mlqa-r", "LaBSE", "hybrid-0.5", [0.686, 0.681, 0.579, 195.0]),
];

/// The paper's published numbers beside ours, same measures and benchmarks.
fn paper_section(md: &mut String, loaded: &[Loaded<'_>], summary: &mut serde_json::Value) {
    let _ = writeln!(md, "## The paper's numbers beside ours\n");
    let _ = writeln!(md, "{PAPER_INTRO}\n");
    let measures = [
        Measure::Map(Setting::Monolingual),
        Measure::Map(Setting::Crosslingual),
        Measure::Map(Setting::Multilingual),
        Measure::RankDistance,
    ];
    let mut paper_json = Vec::new();
    for bench in ["xquad-r", "mlqa-r"] {
        let _ = writeln!(md, "**{bench}**\n");
        let _ = writeln!(
            md,
            "| source | strategy | monolingual mAP | cross-lingual mAP | multilingual mAP | max rank distance ↓ |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for encoder in ["XLM-R", "LaBSE"] {
            for (_, _, strategy, v) in PAPER.iter().filter(|p| p.0 == bench && p.1 == encoder) {
                let _ = writeln!(
                    md,
                    "| paper, {encoder} | {} | {:.3} | {:.3} | {:.3} | {:.1} |",
                    display_name(strategy),
                    v[0],
                    v[1],
                    v[2],
                    v[3]
                );
                paper_json.push(json!({"benchmark": bench, "encoder": encoder, "strategy": strategy,
                    "monolingual_map": v[0], "crosslingual_map": v[1], "multilingual_map": v[2], "max_rank_distance": v[3]}));
            }
        }
        for l in loaded {
            let Some(evals) = l.benchmarks.get(bench) else { continue };
            for model in [REFERENCE, "x-x-mono", "x-y", HYBRID] {
                let Some(runs) = evals.get(model) else { continue };
                let cells: Vec<String> = measures
                    .iter()
                    .map(|m| {
                        let v = values(runs, *m);
                        if v.is_empty() {
                            "—".into()
                        } else if m.higher_is_better() {
                            format!("{:.3}", mean(&v))
                        } else {
                            format!("{:.1}", mean(&v))
                        }
                    })
                    .collect();
                let source = if model == REFERENCE {
                    "Polyret, e5-small, untrained".to_string()
                } else {
                    format!(
                        "Polyret, e5-small, {} ({} seed{})",
                        l.regime.title.to_lowercase(),
                        runs.len(),
                        if runs.len() == 1 { "" } else { "s" }
                    )
                };
                let strategy = if model == REFERENCE { "—".to_string() } else { display_name(model) };
                let _ = writeln!(md, "| {source} | {strategy} | {} |", cells.join(" | "));
            }
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "{PAPER_DIFFERS}\n");
    summary["paper"] = json!(paper_json);
}

/// Hybrid(0.5) against X-Y in both regimes side by side, and what follows.
fn dependence_section(md: &mut String, loaded: &[Loaded<'_>], summary: &mut serde_json::Value) {
    let _ = writeln!(md, "## Does the X-Y-versus-Hybrid conclusion depend on how much of the network is trained?\n");
    let _ = writeln!(
        md,
        "Hybrid(0.5) minus X-Y in each regime (Δ, p, per-seed signs as above); only benchmarks both regimes evaluate.\n"
    );
    let common: Vec<&String> = loaded
        .first()
        .map(|l| l.benchmarks.keys().filter(|b| loaded.iter().all(|o| o.benchmarks.contains_key(*b))).collect())
        .unwrap_or_default();
    let mut header = String::from("| benchmark | measure |");
    for l in loaded {
        let _ = write!(header, " {} |", l.regime.title);
    }
    let _ = writeln!(md, "{header}");
    let _ = writeln!(md, "|{}", "---|".repeat(header.matches('|').count() - 1));
    // Per regime: (significantly better, significantly worse, not significant) over the mAP measures.
    let mut tally = vec![(0usize, 0usize, 0usize); loaded.len()];
    let mut rows_json = Vec::new();
    for bench in &common {
        for measure in Measure::ALL {
            let deltas: Vec<Option<Delta>> = loaded
                .iter()
                .map(|l| {
                    let e = &l.benchmarks[*bench];
                    Delta::between(e.get(HYBRID)?, e.get("x-y")?, measure)
                })
                .collect();
            if deltas.iter().all(Option::is_none) {
                continue;
            }
            let cells: Vec<String> =
                deltas.iter().map(|d| d.as_ref().map_or("—".into(), |d| d.cell(measure))).collect();
            let _ = writeln!(md, "| {bench} | {} | {} |", measure.label(), cells.join(" | "));
            for (t, d) in tally.iter_mut().zip(&deltas) {
                if let Some(Delta { delta, p: Some(p), .. }) = d {
                    match (*p < 0.05, *delta > 0.0) {
                        (true, true) => t.0 += 1,
                        (true, false) => t.1 += 1,
                        (false, _) => t.2 += 1,
                    }
                }
            }
            rows_json.push(json!({"benchmark": bench, "measure": measure.name(),
                "by_regime": loaded.iter().zip(&deltas).map(|(l, d)| (l.regime.key.to_string(), d.as_ref().map(Delta::json))).collect::<BTreeMap<_, _>>()}));
        }
    }
    let _ = writeln!(md);
    let mut verdicts = Vec::new();
    for (l, (better, worse, same)) in loaded.iter().zip(&tally) {
        let total = better + worse + same;
        if total == 0 {
            continue;
        }
        let lean = if worse > better {
            "X-Y ahead"
        } else if better > worse {
            "Hybrid ahead"
        } else {
            "neither ahead"
        };
        verdicts.push(lean);
        let _ = writeln!(
            md,
            "- {}: of {total} mAP comparisons, Hybrid(0.5) is significantly better than X-Y in {better}, significantly worse in \
             {worse}, not significantly different in {same} ({lean}).",
            l.regime.title
        );
    }
    let answer = match verdicts.as_slice() {
        [a, b] if a == b => {
            format!("Answer from these runs: no — the comparison leans the same way in both regimes ({a}).")
        }
        [a, b] => format!(
            "Answer from these runs: yes — it leans one way with the top 2 layers trained ({a}) and the other with every \
             layer trained ({b})."
        ),
        _ => "Answer: not yet — a regime has no finished comparison of Hybrid(0.5) with X-Y.".to_string(),
    };
    let _ = writeln!(md, "\n{answer}\n");
    summary["hybrid_minus_x_y_by_regime"] = json!({"rows": rows_json, "answer": answer});
}

fn runs_section(md: &mut String, loaded: &[Loaded<'_>], summary: &mut serde_json::Value) {
    let _ = writeln!(md, "## Runs\n");
    let _ = writeln!(md, "{RUNS_INTRO}\n");
    let mut runs_json = Vec::new();
    for l in loaded {
        let _ = writeln!(md, "**{}** ({} of {} runs)\n", l.regime.title, l.done.len(), l.regime.specs.len());
        if l.done.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "| run | wall time (min) | sittings | train loss, first → last 10% of steps | pairs/s, last sitting \
             | peak memory (MiB), last sitting | cores busy, train / evaluate | trainer |"
        );
        let _ = writeln!(md, "|---|---:|---:|---|---:|---:|---:|---|");
        for spec in &l.done {
            let (Some(s), t) = (record_json(spec, "summary.json"), timing(spec)) else { continue };
            let minutes = t
                .as_ref()
                .and_then(|t| t["wall_seconds"].as_f64())
                .map_or("—".into(), |w| format!("{:.1}", w / 60.0));
            let sittings = t.as_ref().and_then(|t| t["sittings"].as_u64()).unwrap_or(1);
            let cores = |phase: &str| {
                let p = &s["phases_this_invocation"][phase];
                match (p["cpu_seconds"].as_f64(), p["wall_seconds"].as_f64()) {
                    (Some(cpu), Some(wall)) if wall > 0.0 => format!("{:.2}", cpu / wall),
                    _ => "—".into(),
                }
            };
            let trainer = t.as_ref().and_then(|t| t["trainer_sha256"].as_str()).map_or("—", |h| &h[..h.len().min(8)]);
            let loss = logged_loss_tenths(spec).map_or("—".into(), |(first, last)| format!("{first:.3} → {last:.3}"));
            let _ = writeln!(
                md,
                "| {} seed {} | {minutes} | {sittings} | {loss} | {:.1} | {:.0} | {} / {} | {trainer} |",
                display_name(&spec.strategy),
                spec.seed,
                s["pairs_per_second"].as_f64().unwrap_or(f64::NAN),
                s["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
                cores("train"),
                cores("evaluate")
            );
            runs_json
                .push(json!({"regime": l.regime.key, "strategy": spec.strategy, "seed": spec.seed, "dir": spec.dir,
                "record": spec.record, "summary": s, "timing": t}));
        }
        let _ = writeln!(md);
    }
    summary["runs"] = json!(runs_json);
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    polyret_files::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The CPU's model name (`/proc/cpuinfo`).
pub(super) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

const SETUP: &str = "## Setup\n\n\
- **Question.** Does hybrid batch training (each batch X-X-mono with probability α, else X-Y) improve zero-shot \
  cross-lingual and multilingual retrieval over training on one kind of batch, without losing monolingual accuracy, \
  and does it reduce language bias (arXiv 2408.10536)?\n\
- **Model and data.** multilingual-e5-small fine-tuned on the XQuAD train split (36 of 48 articles, 12 languages, \
  question → answer sentence) with in-batch InfoNCE (scale 20); evaluated zero-shot on the 12 held-out XQuAD-R \
  articles, MLQA-R (LAReQA; never seen in training), Multi30K test_2016 and xFlickr&CO (Flickr30k-X caption \
  retrieval), and in the top-2 regime also Tatoeba (bitext retrieval). Every run uses the same config (`{config}`), \
  steps, batch size and learning-rate schedule; only the batch strategy and the seed change.\n\
- **Metrics.** mAP with trec_eval's definition (every parallel copy of the answer is relevant), in the \
  multilingual pool (all languages' candidates at once), averaged over the monolingual (query language = corpus \
  language) and cross-lingual (≠) cells of the Q×C matrix; language bias = maximum rank distance in the \
  multilingual pool (rank of the lowest-ranked minus the highest-ranked relevant candidate, averaged over queries \
  and then languages; lower is less biased). Multi30K and xFlickr&CO have one caption per image and language, so \
  their monolingual cells are empty (a caption never retrieves itself).\n\
- **Two regimes.**";

const PAPER_INTRO: &str = "The paper's Tables 1–2 (Elmahdy, Lin, Ahmad 2024: XLM-R and LaBSE, mAP mono / cross / multi \
and maximum rank distance) and ours on the same two benchmarks, means over seeds.";

const PAPER_DIFFERS: &str = "What differs: the paper fine-tunes XLM-R (large multilingual masked LM) and LaBSE on \
machine-translated MS MARCO and other QA data (batch 100, AdamW lr 3e-5, weight decay 0.01) and evaluates on all of \
XQuAD-R; Polyret fine-tunes multilingual-e5-small (an already contrastively trained retriever) for 300 steps of \
batch 32 on the XQuAD train split, so our XQuAD-R is its 12 held-out articles (a pool of about a quarter of the size: \
its rank distances are not comparable with the paper's), while MLQA-R is the same pool and zero-shot for both.";

const CLAIMS_INTRO: &str = "Each statement is generated from the numbers above. For mAP, \"held\" needs the \
difference in the claimed direction with p < 0.05 (randomization test over queries); a non-significant difference \
is \"not shown\". The rank distance is a per-language average with no per-query test: its statement gives the mean \
difference and whether every seed agrees. \"Ours\" are comparisons the paper does not make a claim about.";

const RUNS_INTRO: &str = "Wall time per run, as timed by the command (training, evaluation and model saving; a run \
interrupted and resumed counts each sitting from its start to its last write). In the top-2 regime the first run \
also builds the frozen-layer cache of every training and evaluation text (`runs/cache`), which the other runs reuse; \
in each regime the first run also evaluates the untouched reference model. Train loss: the mean of the losses \
logged in `metrics.jsonl` (every `training.log_every` steps) in the first and the last 10% of the run's steps, every sitting included. \
Pairs/s and peak memory are the trainer's figures for its last sitting. Cores busy: the trainer's CPU time \
(user + system, all threads) over wall time in its training and evaluation phases, last sitting only (— for runs \
made before the trainer reported it). Trainer: the first 8 hex digits of the SHA-256 of the trainer binary \
(`timing.json` names the commit when the study built it; — for runs recorded before it was kept).";

#[cfg(test)]
mod tests {
    use super::*;
    use polyret_evaluator::{Embedder, EvalOptions, Role, evaluate, group_qrels};
    use polyret_ingest::{DocRow, EvalSet, QueryRow};

    const DIM: usize = 16;

    /// A stand-in for models of different quality: a text's embedding points at its group,
    /// plus deterministic noise whose size is the model's `noise` and whose draw its `salt`.
    struct Noisy {
        noise: f32,
        salt: u64,
    }

    fn splitmix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    impl Embedder for Noisy {
        fn fingerprint(&self) -> String {
            format!("noisy-{}-{}", self.noise, self.salt)
        }
        fn dim(&self) -> usize {
            DIM
        }
        fn embed(&self, texts: &[&str], _role: Role) -> polyret_evaluator::Result<Vec<f32>> {
            let mut out = Vec::with_capacity(texts.len() * DIM);
            for text in texts {
                let group: usize = text.split(' ').nth(1).and_then(|g| g.parse().ok()).expect("`kind group lang`");
                let seed = text.bytes().fold(self.salt, |h, b| splitmix(h ^ u64::from(b)));
                for d in 0..DIM {
                    let r = (splitmix(seed ^ d as u64) >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    out.push(if d == group % DIM { 1.0 } else { 0.0 } + self.noise * r);
                }
            }
            Ok(out)
        }
    }

    /// 20 question groups in 3 languages; a query's relevant passages are its group's.
    fn toy_set() -> EvalSet {
        let mut set = EvalSet { name: "toy-r".into(), ..Default::default() };
        for group in 0..20 {
            for lang in ["de", "en", "fr"] {
                set.queries.push(QueryRow {
                    qid: format!("q{group}-{lang}"),
                    lang: lang.into(),
                    text: format!("q {group} {lang}"),
                    group_id: group.to_string(),
                    subset: None,
                });
                set.corpus.push(DocRow {
                    docid: format!("p{group}-{lang}"),
                    lang: lang.into(),
                    text: format!("p {group} {lang}"),
                    group_id: group.to_string(),
                    subset: None,
                });
            }
        }
        set.qrels = group_qrels(&set);
        set
    }

    /// A finished run of `spec` (its evaluation, summary and timing), or an unfinished one.
    fn fake_run(spec: &RunSpec, set: &EvalSet, reference: bool, finished: bool) {
        let noise = match spec.strategy.as_str() {
            "x-x" => 2.4,
            "x-x-mono" => 1.8,
            "x-y" => 1.5,
            _ => 1.6,
        };
        let mut models = vec![(format!("e5+{}", spec.dir.file_name().unwrap().to_string_lossy()), noise, spec.seed)];
        if reference {
            models.push(("e5".into(), 2.0, 0));
        }
        for (label, noise, salt) in models {
            let options = EvalOptions { model_name: label.clone(), ..EvalOptions::default() };
            let mut evaluation = evaluate(&Noisy { noise, salt }, set, &options).unwrap();
            evaluation.write(&spec.dir.join("eval").join(&label).join(&set.name)).unwrap();
        }
        let summary =
            json!({"loss_first_tenth": 1.5, "loss_last_tenth": 0.5, "pairs_per_second": 10.0, "peak_rss_mib": 100.0});
        std::fs::write(spec.dir.join("summary.json"), summary.to_string()).unwrap();
        if finished {
            std::fs::write(spec.dir.join("timing.json"), json!({"wall_seconds": 120.0, "sittings": 2}).to_string())
                .unwrap();
        }
    }

    #[test]
    fn the_loss_columns_span_every_sitting_of_a_resumed_run() {
        let root = tempfile::tempdir().unwrap();
        let spec =
            RunSpec { strategy: "x-y".into(), seed: 2, dir: root.path().join("run"), record: root.path().into() };
        // 100 steps logged every 10 (a resume after step 50 appends to the same file), one line
        // without a loss; the summary of the last sitting would say the run started at 5.0.
        let mut lines: Vec<String> =
            (1..=10).map(|i| json!({"step": 10 * i, "loss": 100.0 - f64::from(i * 10)}).to_string()).collect();
        lines.insert(3, json!({"step": 35, "val_loss": 7.0}).to_string());
        std::fs::write(root.path().join("metrics.jsonl"), lines.join("\n")).unwrap();
        std::fs::write(root.path().join("summary.json"), json!({"loss_first_tenth": 5.0}).to_string()).unwrap();
        assert_eq!(logged_loss_tenths(&spec), Some((90.0, 0.0)));
        std::fs::write(root.path().join("metrics.jsonl"), "").unwrap();
        assert_eq!(logged_loss_tenths(&spec), None);
    }

    #[test]
    fn a_report_of_two_regimes_says_how_far_each_got_and_is_rewritten_byte_for_byte() {
        let root = tempfile::tempdir().unwrap();
        let set = toy_set();
        let regimes: Vec<Regime> = [false, true]
            .into_iter()
            .map(|full| {
                let runs = root.path().join(if full { "full" } else { "top" });
                let records = super::super::records_dir(&root.path().join("results"), full);
                let specs = super::super::grid(full, &[1, 2], &runs, &records).0;
                super::super::regime(full, runs, records, specs)
            })
            .collect();
        for regime in &regimes {
            for (i, spec) in regime.specs.iter().enumerate() {
                // The full regime's X-X run has not finished: its evaluation must not be read.
                let finished = !(regime.key == "full" && spec.strategy == "x-x");
                fake_run(spec, &set, i == 0, finished);
                if finished {
                    super::super::record::write(&spec.dir, &spec.record).unwrap();
                }
            }
        }
        let config = root.path().join("study.toml");
        let study = Study {
            config: &config,
            seen: ["de", "en"].map(String::from).into(),
            regimes,
            command: "cargo xtask reproduce".into(),
        };
        let results = root.path().join("results");
        // The report reads the records only: the run directories may be gone (another machine).
        for regime in &study.regimes {
            std::fs::remove_dir_all(&regime.runs).unwrap();
        }
        write(&results, &study, 1.0).unwrap();
        let first = std::fs::read(results.join("REPORT.md")).unwrap();
        let summary = std::fs::read(results.join("summary.json")).unwrap();
        let figures: Vec<_> = std::fs::read_dir(results.join("figures")).unwrap().map(|e| e.unwrap().path()).collect();
        let svg_bytes: Vec<Vec<u8>> = figures.iter().map(|f| std::fs::read(f).unwrap()).collect();
        write(&results, &study, 1.0).unwrap();
        assert_eq!(std::fs::read(results.join("REPORT.md")).unwrap(), first, "the report is not deterministic");
        assert_eq!(std::fs::read(results.join("summary.json")).unwrap(), summary);
        for (f, bytes) in figures.iter().zip(&svg_bytes) {
            assert_eq!(&std::fs::read(f).unwrap(), bytes, "{}", f.display());
        }

        let md = String::from_utf8(first).unwrap();
        for needle in [
            "top 2 layers trained: 12 of 12 runs",
            "full fine-tuning: 6 of 7 runs",
            "## Top 2 layers trained",
            "## Full fine-tuning",
            "### toy-r (full fine-tuning)",
            "(never seen in training: fr)",
            "Hybrid(0.5) vs X-X-mono, cross-lingual mAP (paper's claim)",
            "Hybrid(0.5) vs X-Y, monolingual mAP (paper's claim)",
            "Hybrid(0.5) vs X-X-mono, max rank distance (lower is less biased) (paper's claim)",
            "Hybrid(0.5) vs X-X, multilingual mAP (ours)",
            "| paper, LaBSE | Hybrid(α = 0.5) | 0.686 | 0.681 | 0.579 | 195.0 |",
            "## Does the X-Y-versus-Hybrid conclusion depend on how much of the network is trained?",
            "Answer from these runs:",
            "| X-X seed 1 | 2.0 | 2 |",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        // The unfinished X-X run of the full regime is neither a row nor a baseline.
        let full = &md[md.find("## Full fine-tuning").unwrap()..md.find("## Does the").unwrap()];
        assert!(!full.contains("| X-X | "), "{full}");
        // Seeds 1 and 2 against X-X-mono: two signs per difference.
        assert!(md.lines().any(|l| l.starts_with("| X-X-mono | ") && l.matches('[').count() == 4), "{md}");
        let names: BTreeSet<String> =
            figures.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for name in [
            "top-2-toy-r-hybrid-minus-x-y.svg",
            "top-2-toy-r-hybrid-minus-x-x-mono.svg",
            "top-2-toy-r-alpha.svg",
            "full-toy-r-alpha.svg",
        ] {
            assert!(names.contains(name), "{names:?}");
        }
        // The top-2 α plot has α = 0, 0.25, 0.5, 0.75 and 1, two seeds each, in two panels.
        let alpha = std::fs::read_to_string(results.join("figures/top-2-toy-r-alpha.svg")).unwrap();
        assert_eq!(alpha.matches("<circle").count(), 2 * 5 * 2);
    }
}

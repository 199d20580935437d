//! `results/REPORT.md` and `results/summary.json` from the study's runs: per benchmark the three
//! settings' mAP and the language bias as mean ± sd over seeds, seen vs unseen languages, paired
//! randomization tests of Hybrid(0.5) against each baseline, heatmaps, and plain statements of
//! which of the paper's claims held.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use polyret_evaluator::compare::{LoadedResults, randomization_test};
use polyret_evaluator::{EvalReport, Metric, QueryUnit, Setting, setting_weights};
use serde_json::json;

use super::{RunSpec, STRATEGIES};

/// Permutations of each randomization test.
const PERMUTATIONS: usize = 10_000;
/// The hybrid setting the paper recommends, tested against each baseline.
const HYBRID: &str = "hybrid-0.5";
const BASELINES: [&str; 3] = ["x-x", "x-x-mono", "x-y"];
const REFERENCE: &str = "reference";

/// Every evaluation of one benchmark, by model (strategy name or `reference`), one per seed.
type Evaluations = BTreeMap<String, Vec<LoadedResults>>;

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn fmt_ms(xs: &[f64], digits: usize) -> String {
    if xs.is_empty() {
        return "—".into();
    }
    let (m, s) = mean_sd(xs);
    if xs.len() == 1 { format!("{m:.digits$}") } else { format!("{m:.digits$} ± {s:.digits$}") }
}

fn setting_map(r: &EvalReport, s: Setting) -> Option<f64> {
    r.scores.get(&s).map(|v| v.main_score)
}

fn bias(r: &EvalReport) -> Option<f64> {
    r.bias.as_ref().and_then(|b| b.max_rank_distance)
}

/// Mean of the Q×C cells (Q ≠ C) whose languages are all seen in training (`unseen = false`),
/// or that involve at least one unseen language (`unseen = true`).
fn cross_by_seen(r: &EvalReport, metric: Metric, seen: &BTreeSet<String>, unseen: bool) -> Option<f64> {
    let m = &r.matrix;
    let cells = m.metric(metric);
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

/// Per-query values of `metric` in `setting`, averaged over the seeds, aligned on run query ids.
fn per_query_means(runs: &[LoadedResults], setting: Setting, metric: Metric) -> BTreeMap<String, (QueryUnit, f64)> {
    let mut sums: BTreeMap<String, (QueryUnit, f64, usize)> = BTreeMap::new();
    for r in runs {
        for u in r.units.iter().filter(|u| u.setting == setting) {
            let entry = sums.entry(u.run_qid.clone()).or_insert_with(|| (u.clone(), 0.0, 0));
            entry.1 += u.values[metric as usize];
            entry.2 += 1;
        }
    }
    sums.into_iter().map(|(k, (u, s, n))| (k, (u, s / n as f64))).collect()
}

/// Two-sided paired randomization test of the setting score of `a` vs `b` (seed-averaged).
fn p_value(a: &[LoadedResults], b: &[LoadedResults], setting: Setting, metric: Metric) -> Option<f64> {
    let a = per_query_means(a, setting, metric);
    let b = per_query_means(b, setting, metric);
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

fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "—".into(),
        Some(p) if p < 0.001 => "< 0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

/// Loads the evaluations of finished runs: benchmark → model → one result per seed.
fn load(done: &[&RunSpec]) -> anyhow::Result<BTreeMap<String, Evaluations>> {
    let mut out: BTreeMap<String, Evaluations> = BTreeMap::new();
    for spec in done {
        let eval = spec.dir.join("eval");
        for label in std::fs::read_dir(&eval)?.filter_map(Result::ok) {
            let name = label.file_name().to_string_lossy().into_owned();
            let model = if name.contains('+') { spec.strategy.clone() } else { REFERENCE.to_string() };
            for bench in std::fs::read_dir(label.path())?.filter_map(Result::ok) {
                let loaded = LoadedResults::read(&bench.path())
                    .with_context(|| format!("reading {}", bench.path().display()))?;
                out.entry(loaded.report.task_name.clone()).or_default().entry(model.clone()).or_default().push(loaded);
            }
        }
    }
    if out.is_empty() {
        bail!("no evaluations found under the run directories");
    }
    Ok(out)
}

fn training_languages(config: &Path) -> anyhow::Result<BTreeSet<String>> {
    // The training table's languages, from the catalog (every run trains on the same data).
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

/// Writes the report and the machine-readable summary.
pub fn write(results: &Path, config: &Path, specs: &[RunSpec], command: &str, seconds: f64) -> anyhow::Result<()> {
    // Only finished runs: an interrupted one may hold some of its evaluations.
    let done: Vec<&RunSpec> = specs.iter().filter(|s| super::is_done(&s.dir)).collect();
    let all = load(&done)?;
    let seen = training_languages(config)?;
    std::fs::create_dir_all(results.join("figures"))?;
    let mut md = String::new();
    let mut summary = json!({"command": command, "training_languages": seen, "benchmarks": {}});
    let seeds: BTreeSet<u64> = specs.iter().map(|s| s.seed).collect();
    let run_seconds: f64 = done
        .iter()
        .filter_map(|s| std::fs::read_to_string(s.dir.join("timing.json")).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter_map(|v| v["wall_seconds"].as_f64())
        .sum();

    let _ = writeln!(md, "# Hybrid vs standard batching for multilingual retrieval: Polyret study\n");
    let _ = writeln!(
        md,
        "Generated by `{command}` (this file is written by the command; do not edit it by hand). \
         {} of {} runs present; the runs' training and evaluation took {:.1} min of wall time on this machine \
         ({}, {} CPU cores).\n",
        done.len(),
        specs.len(),
        run_seconds / 60.0,
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let _ = writeln!(
        md,
        "{}",
        SETUP
            .replace("{config}", &config.display().to_string())
            .replace("{seeds}", &seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
    );
    let _ = writeln!(md, "Languages seen in training: {}.\n", seen.iter().cloned().collect::<Vec<_>>().join(" "));

    let mut claims: Vec<String> = Vec::new();
    for (bench, evals) in &all {
        let first = evals.values().next().and_then(|v| v.first()).map(|r| &r.report).expect("non-empty");
        let langs = &first.dataset.languages;
        let unseen: Vec<&String> = langs.iter().filter(|l| !seen.contains(*l)).collect();
        let _ = writeln!(md, "## {bench}\n");
        let _ = writeln!(
            md,
            "{} queries, {} documents; languages {}{}.\n",
            first.dataset.queries,
            first.dataset.documents,
            langs.join(" "),
            if unseen.is_empty() {
                String::new()
            } else {
                format!(
                    " (never seen in training: {})",
                    unseen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
                )
            }
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
            let reports: Vec<&EvalReport> = runs.iter().map(|r| &r.report).collect();
            let col =
                |f: &dyn Fn(&EvalReport) -> Option<f64>| -> Vec<f64> { reports.iter().filter_map(|r| f(r)).collect() };
            let multi = col(&|r| setting_map(r, Setting::Multilingual));
            let mono = col(&|r| setting_map(r, Setting::Monolingual));
            let cross = col(&|r| setting_map(r, Setting::Crosslingual));
            let rank = col(&|r| bias(r));
            let seen_cross = col(&|r| cross_by_seen(r, Metric::Map, &seen, false));
            let unseen_cross = col(&|r| cross_by_seen(r, Metric::Map, &seen, true));
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
                json!({"seeds": runs.len(), "multilingual_map": multi, "monolingual_map": mono, "crosslingual_map": cross,
                       "max_rank_distance": rank, "crosslingual_map_seen": seen_cross, "crosslingual_map_unseen": unseen_cross,
                       "crosslingual_success_at_1": accuracy}),
            );
        }
        let _ = writeln!(md);
        // Significance of Hybrid(0.5) against each baseline.
        if let Some(hybrid) = evals.get(HYBRID) {
            let _ = writeln!(
                md,
                "Hybrid(α = 0.5) minus baseline (mean over seeds) and two-sided paired randomization-test p-values over queries \
                 (per-query values averaged over seeds, {PERMUTATIONS} sign flips):\n"
            );
            let _ = writeln!(
                md,
                "| baseline | Δ multilingual mAP (p) | Δ monolingual mAP (p) | Δ cross-lingual mAP (p) | Δ max rank distance |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|");
            let mut tests = serde_json::Map::new();
            for base in BASELINES.iter().chain(std::iter::once(&REFERENCE)) {
                let Some(other) = evals.get(*base) else { continue };
                let delta = |s: Setting| -> Option<f64> {
                    let a: Vec<f64> = hybrid.iter().filter_map(|r| setting_map(&r.report, s)).collect();
                    let b: Vec<f64> = other.iter().filter_map(|r| setting_map(&r.report, s)).collect();
                    (!a.is_empty() && !b.is_empty()).then(|| mean_sd(&a).0 - mean_sd(&b).0)
                };
                let d_bias = {
                    let a: Vec<f64> = hybrid.iter().filter_map(|r| bias(&r.report)).collect();
                    let b: Vec<f64> = other.iter().filter_map(|r| bias(&r.report)).collect();
                    (!a.is_empty() && !b.is_empty()).then(|| mean_sd(&a).0 - mean_sd(&b).0)
                };
                let mut cells = Vec::new();
                let mut test_json = serde_json::Map::new();
                for s in [Setting::Multilingual, Setting::Monolingual, Setting::Crosslingual] {
                    let d = delta(s);
                    let p = d.and_then(|_| p_value(hybrid, other, s, Metric::Map));
                    cells.push(d.map_or("—".into(), |d| format!("{d:+.4} ({})", fmt_p(p))));
                    test_json.insert(s.name().into(), json!({"delta_map": d, "p": p}));
                    if let (Some(d), Some(p)) = (d, p) {
                        claims_for(&mut claims, bench, base, s, d, p);
                    }
                }
                test_json.insert("delta_max_rank_distance".into(), json!(d_bias));
                if let Some(d) = d_bias {
                    bias_claim(&mut claims, bench, base, d);
                }
                tests.insert((*base).to_string(), serde_json::Value::Object(test_json));
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    display_name(base),
                    cells[0],
                    cells[1],
                    cells[2],
                    d_bias.map_or("—".into(), |d| format!("{d:+.1}"))
                );
            }
            bench_json.insert("hybrid_0.5_vs".into(), serde_json::Value::Object(tests));
            let _ = writeln!(md);
        }
        copy_heatmaps(results, bench, evals, &mut md)?;
        summary["benchmarks"][bench] = serde_json::Value::Object(bench_json);
    }

    let _ = writeln!(md, "## Which of the paper's claims held here\n");
    let _ = writeln!(md, "{CLAIMS_INTRO}\n");
    for claim in &claims {
        let _ = writeln!(md, "- {claim}");
    }
    let _ = writeln!(md, "\n{}", stability(&all));
    let _ = writeln!(md, "\n## Runs\n");
    let _ = writeln!(
        md,
        "Wall time per run, as timed by the command (training, evaluation and model saving). The first run also \
         builds the frozen-layer cache of every training and evaluation text (`runs/cache`), which the other runs — and \
         later reruns of the study — reuse; it is also the run that evaluates the untouched reference model.\n"
    );
    let _ =
        writeln!(md, "| run | wall time (min) | train loss, first → last 10% of steps | pairs/s | peak memory (MiB) |");
    let _ = writeln!(md, "|---|---:|---|---:|---:|");
    let mut runs_json = Vec::new();
    for spec in &done {
        let read = |f: &str| {
            std::fs::read_to_string(spec.dir.join(f))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        };
        let (Some(s), t) = (read("summary.json"), read("timing.json")) else { continue };
        let minutes =
            t.as_ref().and_then(|t| t["wall_seconds"].as_f64()).map_or("—".into(), |w| format!("{:.1}", w / 60.0));
        let _ = writeln!(
            md,
            "| {} seed {} | {minutes} | {:.3} → {:.3} | {:.1} | {:.0} |",
            display_name(&spec.strategy),
            spec.seed,
            s["loss_first_tenth"].as_f64().unwrap_or(f64::NAN),
            s["loss_last_tenth"].as_f64().unwrap_or(f64::NAN),
            s["pairs_per_second"].as_f64().unwrap_or(f64::NAN),
            s["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
        runs_json
            .push(json!({"strategy": spec.strategy, "seed": spec.seed, "dir": spec.dir, "summary": s, "timing": t}));
    }
    summary["runs"] = json!(runs_json);
    summary["claims"] = json!(claims);
    summary["runs_wall_seconds"] = json!(run_seconds);
    summary["command_wall_seconds"] = json!(seconds);
    write_atomic(&results.join("REPORT.md"), md.as_bytes())?;
    write_atomic(&results.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    polyret_files::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// A statement per (benchmark, baseline, setting) that the paper makes a claim about.
fn claims_for(claims: &mut Vec<String>, bench: &str, base: &str, setting: Setting, delta: f64, p: f64) {
    let significant = p < 0.05;
    let verdict = |better: bool| match (better, significant) {
        (true, true) => "held",
        (false, true) => "did not hold (significantly worse)",
        (_, false) => "not shown (difference not significant)",
    };
    let text = match (base, setting) {
        // Hybrid should beat the standard multilingual baseline in the cross-lingual and multilingual settings.
        ("x-x", Setting::Crosslingual | Setting::Multilingual) => Some(format!(
            "{bench}: Hybrid(0.5) improves {} retrieval over standard X-X batches — {} (Δ mAP {delta:+.4}, p {}).",
            setting.name(),
            verdict(delta > 0.0),
            fmt_p(Some(p))
        )),
        // ... without losing monolingual accuracy against the monolingual specialist.
        ("x-x-mono", Setting::Monolingual) => Some(format!(
            "{bench}: Hybrid(0.5) keeps X-X-mono's monolingual accuracy — {} (Δ mAP {delta:+.4}, p {}).",
            if delta >= 0.0 || !significant { "held" } else { "did not hold (significantly lower)" },
            fmt_p(Some(p))
        )),
        // ... and without losing cross-lingual accuracy against the cross-lingual specialist.
        ("x-y", Setting::Crosslingual) => Some(format!(
            "{bench}: Hybrid(0.5) matches X-Y in cross-lingual retrieval — {} (Δ mAP {delta:+.4}, p {}).",
            if delta >= 0.0 || !significant { "held" } else { "did not hold (significantly lower)" },
            fmt_p(Some(p))
        )),
        _ => None,
    };
    claims.extend(text);
}

fn bias_claim(claims: &mut Vec<String>, bench: &str, base: &str, delta: f64) {
    if base == "x-x" {
        claims.push(format!(
            "{bench}: Hybrid(0.5) reduces language bias (maximum rank distance) relative to X-X — {} (Δ {delta:+.1} ranks; \
             no significance test: the bias is a per-language average, see the table).",
            if delta < 0.0 { "held" } else { "did not hold" }
        ));
    }
}

/// How much the hybrid results move with α (the paper: stable for α in 0.4–0.6).
fn stability(all: &BTreeMap<String, Evaluations>) -> String {
    let mut out = String::from("Sensitivity to α (multilingual mAP, mean over seeds, for α = 0.25 / 0.5 / 0.75):\n");
    for (bench, evals) in all {
        let values: Vec<String> = ["hybrid-0.25", "hybrid-0.5", "hybrid-0.75"]
            .iter()
            .map(|m| {
                evals.get(*m).map_or("—".into(), |runs| {
                    let xs: Vec<f64> =
                        runs.iter().filter_map(|r| setting_map(&r.report, Setting::Multilingual)).collect();
                    if xs.is_empty() { "—".into() } else { format!("{:.4}", mean_sd(&xs).0) }
                })
            })
            .collect();
        let _ = write!(out, "\n- {bench}: {}", values.join(" / "));
    }
    out
}

fn copy_heatmaps(results: &Path, bench: &str, evals: &Evaluations, md: &mut String) -> anyhow::Result<()> {
    let mut shown = Vec::new();
    for model in [REFERENCE, HYBRID, "x-x"] {
        let Some(dir) = evals.get(model).and_then(|runs| runs.first()).map(|r| r.dir.clone()) else { continue };
        let src: PathBuf = dir.join("heatmap_map.png");
        if !src.is_file() {
            continue;
        }
        let name = format!("{bench}-{model}.png");
        std::fs::copy(&src, results.join("figures").join(&name))?;
        shown.push(format!(
            "![{} on {bench}: mAP by query (rows) × corpus language (columns)](figures/{name})",
            display_name(model)
        ));
    }
    if !shown.is_empty() {
        let _ = writeln!(md, "Q×C mAP heatmaps (first seed): {}\n", shown.join(" "));
    }
    Ok(())
}

fn cpu_model() -> String {
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
  cross-lingual and multilingual retrieval over standard multilingual contrastive training (X-X), without losing \
  monolingual accuracy, and does it reduce language bias?\n\
- **Model and data.** multilingual-e5-small fine-tuned on the XQuAD train split (36 of 48 articles, 12 languages, \
  question → answer sentence) with in-batch InfoNCE (scale 20); evaluated zero-shot on the 12 held-out XQuAD-R \
  articles, Multi30K test_2016 and xFlickr&CO (Flickr30k-X caption retrieval) and Tatoeba (bitext retrieval). \
  Every run uses the same config (`{config}`), steps, batch size and learning-rate schedule; only the batch \
  strategy and the seed change (seeds {seeds}).\n\
- **Sized for a 2-core CPU.** The bottom layers of the encoder (and the embeddings) are frozen and their outputs are \
  computed once per distinct text — training and evaluation texts alike — and cached, so each training step and \
  each evaluation runs only the top layers. This is exact (frozen layers run without dropout in both the cached and \
  the uncached computation), and it is what makes 18 training runs and their evaluations fit a working session \
  on a CPU (measured times below); it also means the study measures what batch composition does to the top of the network, a smaller \
  intervention than the paper's full fine-tuning. The zero-shot reference row is computed through the same cache \
  (it equals the untouched model). The full-size setting is one flag away: `cargo xtask reproduce --full` \
  (every layer trained, no cache, WGPU backend; for a GPU).\n\
- **Metrics.** mAP with trec_eval's definition (every parallel copy of the answer is relevant), in the \
  multilingual pool (all languages' candidates at once), averaged over the monolingual (query language = corpus \
  language) and cross-lingual (≠) cells of the Q×C matrix; language bias = maximum rank distance in the \
  multilingual pool (rank of the lowest-ranked minus the highest-ranked relevant candidate, averaged over queries \
  and then languages; lower is less biased). Multi30K and xFlickr&CO have one caption per image and language, so \
  their monolingual cells are empty (a caption never retrieves itself).\n";

const CLAIMS_INTRO: &str = "Each statement below is generated from the numbers above: \"held\" needs the difference \
in the claimed direction with p < 0.05; a non-significant difference is reported as not shown (for \"no loss\" \
claims, as held).";

//! Side-by-side comparison of evaluations with paired randomization tests over queries.
//!
//! Two results of the same benchmark are paired ranking by ranking (`per_query.tsv`). For a
//! setting score `S = Σ wᵢ vᵢ` (see [`crate::report`]: each language or cell weighs equally),
//! the test statistic is `Σ wᵢ (aᵢ − bᵢ)`; under the null hypothesis that the two systems are
//! exchangeable, each pair's sign is flipped at random. The two-sided p-value is
//! `(1 + #{|T*| ≥ |T|}) / (1 + R)` over `R` random flips (Smucker et al., CIKM 2007), seeded,
//! so a table is reproducible.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::error::{EvalError, Result};
use crate::metrics::Metric;
use crate::report::{EvalReport, PER_QUERY_FILE, QueryUnit, Setting, read_per_query, setting_weights};

/// An evaluation read back from its directory.
#[derive(Clone, Debug)]
pub struct LoadedResults {
    /// The directory.
    pub dir: PathBuf,
    /// `results.json`.
    pub report: EvalReport,
    /// `per_query.tsv`.
    pub units: Vec<QueryUnit>,
}

impl LoadedResults {
    /// Reads `dir/results.json` and `dir/per_query.tsv`.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_owned(),
            report: EvalReport::read(dir)?,
            units: read_per_query(&dir.join(PER_QUERY_FILE))?,
        })
    }
}

/// One line of the table: a setting's measure for every result.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonRow {
    /// Setting.
    pub setting: Setting,
    /// Measure.
    pub metric: Metric,
    /// The score of each result, in input order.
    pub values: Vec<f64>,
    /// p-value of each result against the first (`None` for the first).
    pub p_values: Vec<Option<f64>>,
}

/// A comparison table.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Column headers (result directories).
    pub names: Vec<String>,
    /// Rows, by setting then measure.
    pub rows: Vec<ComparisonRow>,
    /// Random sign flips per test.
    pub permutations: usize,
}

/// Two-sided paired randomization test of `Σ wᵢ (aᵢ − bᵢ)`; see the module docs.
pub fn randomization_test(a: &[f64], b: &[f64], weights: &[f64], permutations: usize, seed: u64) -> f64 {
    assert!(a.len() == b.len() && a.len() == weights.len(), "paired samples of equal length");
    let d: Vec<f64> = a.iter().zip(b).zip(weights).map(|((x, y), w)| w * (x - y)).collect();
    let observed = d.iter().sum::<f64>().abs();
    // Sums of the same terms in another order can differ in the last bits.
    let bar = observed - 1e-12 * (1.0 + observed);
    // A fixed split into streams, each with its own seed: the p-value depends on `seed` and
    // the stream count, not on how rayon schedules the streams.
    let streams = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let per = permutations.div_ceil(streams);
    let hits: usize = (0..streams)
        .into_par_iter()
        .map(|t| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let n = per.min(permutations.saturating_sub(t * per));
            (0..n)
                .filter(|_| {
                    let mut sum = 0.0;
                    for chunk in d.chunks(64) {
                        let bits = rng.next_u64();
                        for (i, x) in chunk.iter().enumerate() {
                            // Flip the sign bit when the random bit is set.
                            sum += f64::from_bits(x.to_bits() ^ (((bits >> i) & 1) << 63));
                        }
                    }
                    sum.abs() >= bar
                })
                .count()
        })
        .sum();
    (1 + hits) as f64 / (1 + permutations) as f64
}

/// Compares `results` (first = baseline) on `metrics` in every setting they share.
/// Errors if they were computed on different data or rank different queries, or if
/// `permutations` is 0 (no test: every p-value would read 1).
pub fn compare(results: &[LoadedResults], metrics: &[Metric], permutations: usize, seed: u64) -> Result<Comparison> {
    if permutations == 0 {
        return Err(EvalError::Compare("permutations must be at least 1 (0 runs no test; p would read 1)".into()));
    }
    let base = results.first().ok_or_else(|| EvalError::Compare("nothing to compare".into()))?;
    for r in &results[1..] {
        if r.report.dataset.content_sha256 != base.report.dataset.content_sha256 {
            return Err(EvalError::Compare(format!(
                "{} ({}) and {} ({}) were evaluated on different data",
                base.dir.display(),
                base.report.task_name,
                r.dir.display(),
                r.report.task_name
            )));
        }
    }
    let mut rows = Vec::new();
    for setting in Setting::ALL {
        let base_units: Vec<&QueryUnit> = base.units.iter().filter(|u| u.setting == setting).collect();
        if base_units.is_empty() {
            continue;
        }
        let weights = setting_weights(&base_units);
        // Align every result's units to the baseline's order.
        let mut aligned: Vec<Vec<&QueryUnit>> = vec![base_units.clone()];
        for r in &results[1..] {
            let by_id: HashMap<&str, &QueryUnit> =
                r.units.iter().filter(|u| u.setting == setting).map(|u| (u.run_qid.as_str(), u)).collect();
            let units: Option<Vec<&QueryUnit>> =
                base_units.iter().map(|u| by_id.get(u.run_qid.as_str()).copied()).collect();
            match units {
                Some(units) if by_id.len() == base_units.len() => aligned.push(units),
                _ => {
                    return Err(EvalError::Compare(format!(
                        "{} and {} rank different queries in the {} setting",
                        base.dir.display(),
                        r.dir.display(),
                        setting.name()
                    )));
                }
            }
        }
        for &metric in metrics {
            let column = |units: &[&QueryUnit]| units.iter().map(|u| u.values[metric as usize]).collect::<Vec<f64>>();
            let base_values = column(&aligned[0]);
            let score = |v: &[f64]| v.iter().zip(&weights).map(|(x, w)| x * w).sum::<f64>();
            let mut values = vec![score(&base_values)];
            let mut p_values = vec![None];
            for (i, units) in aligned.iter().enumerate().skip(1) {
                let v = column(units);
                values.push(score(&v));
                let seed = seed ^ ((i as u64) << 32) ^ (metric as u64) << 8 ^ setting as u64;
                p_values.push(Some(randomization_test(&v, &base_values, &weights, permutations, seed)));
            }
            rows.push(ComparisonRow { setting, metric, values, p_values });
        }
    }
    let names = results.iter().map(|r| r.dir.display().to_string()).collect();
    Ok(Comparison { names, rows, permutations })
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut cells: Vec<Vec<String>> =
            vec![["setting".to_owned(), "metric".to_owned()].into_iter().chain(self.names.iter().cloned()).collect()];
        for r in &self.rows {
            let mut line = vec![r.setting.name().to_owned(), r.metric.key().to_owned()];
            for (v, p) in r.values.iter().zip(&r.p_values) {
                line.push(match p {
                    Some(p) => format!("{v:.4} (p={p:.4}){}", if *p < 0.05 { " *" } else { "" }),
                    None => format!("{v:.4}"),
                });
            }
            cells.push(line);
        }
        let widths: Vec<usize> =
            (0..cells[0].len()).map(|c| cells.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
        for line in &cells {
            let padded: Vec<String> = line.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect();
            writeln!(f, "{}", padded.join("  ").trim_end())?;
        }
        write!(
            f,
            "p: paired randomization test against {} ({} sign flips, two-sided); * p < 0.05",
            self.names.first().map_or("", String::as_str),
            self.permutations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_systems_are_not_significant_and_a_clear_gain_is() {
        let n = 200;
        let w = vec![1.0 / n as f64; n];
        let a: Vec<f64> = (0..n).map(|i| (i % 7) as f64 / 7.0).collect();
        assert_eq!(randomization_test(&a, &a, &w, 999, 1), 1.0);
        let b: Vec<f64> = a.iter().map(|x| x + 0.05).collect();
        let p = randomization_test(&b, &a, &w, 999, 1);
        assert!((p - 1.0 / 1000.0).abs() < 1e-12, "{p}");
        // Same seed, same p; the test is symmetric in its arguments.
        assert_eq!(p, randomization_test(&a, &b, &w, 999, 1));
    }

    #[test]
    fn noise_gives_large_p_values() {
        let n = 300;
        let w = vec![1.0 / n as f64; n];
        let a: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64).collect();
        let b: Vec<f64> = (0..n).map(|i| ((i * 53) % 11) as f64).collect();
        let p = randomization_test(&a, &b, &w, 2000, 7);
        assert!(p > 0.05, "{p}");
    }

    #[test]
    fn zero_permutations_is_an_error_not_p_equals_one() {
        let err = compare(&[], &[Metric::Map], 0, 0).unwrap_err().to_string();
        assert!(err.contains("permutations must be at least 1"), "{err}");
    }

    #[test]
    fn a_single_differing_pair_is_never_significant() {
        // Only one pair differs: whatever its sign, |T*| = |T|, so every flip counts → p = 1.
        let w = vec![0.25; 4];
        let p = randomization_test(&[1.0, 0.0, 0.0, 0.0], &[0.0; 4], &w, 999, 3);
        assert_eq!(p, 1.0);
    }
}

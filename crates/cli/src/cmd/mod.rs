//! One module per subcommand: clap arguments and a `run` that calls into the libraries.

pub mod compare;
pub mod encode;
pub mod eval;
pub mod fetch;
pub mod fetch_model;
pub mod ingest;
pub mod sample;
pub mod search;
pub mod train;

/// Parses a count that must be at least 1 (`--batches`, `-k`, `--run-depth`, `--permutations`):
/// with 0 the command would succeed and write nothing useful.
pub(crate) fn at_least_one<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialEq + From<u8>,
    T::Err: std::fmt::Display,
{
    let n: T = s.trim().parse().map_err(|e| format!("{s:?} is not a whole number: {e}"))?;
    if n == T::from(0) { Err("must be at least 1".into()) } else { Ok(n) }
}

/// Parses one code of a comma-separated `--langs` list: surrounding spaces are ignored
/// (`--langs "de, en"`) and any code `polyret_ingest::canonical_lang` knows is taken to its canonical
/// form (`deu`, `DE` → `de`).
pub(crate) fn language(s: &str) -> Result<String, String> {
    polyret_ingest::canonical_lang(s)
        .map(str::to_owned)
        .ok_or_else(|| format!("unknown language code {:?} (ISO 639-1 or 639-3, e.g. de, en, ast)", s.trim()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// Parses a subcommand's flags the way `polyret` does.
    #[derive(Parser)]
    enum Cli {
        Eval(super::eval::Args),
        Search(super::search::Args),
        Compare(super::compare::Args),
        Sample(super::sample::Args),
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("polyret").chain(args.iter().copied()))
    }

    const EVAL: [&str; 7] = ["eval", "--model", "m", "--benchmark", "b", "--out", "o"];

    #[test]
    fn language_lists_are_trimmed_and_canonical() {
        let Ok(Cli::Eval(args)) = parse(&[&EVAL[..], &["--langs", "de, EN ,deu"]].concat()) else { panic!("eval") };
        assert_eq!(args.langs, ["de", "en", "de"]);
        let Ok(Cli::Search(_)) = parse(&["search", "--model", "m", "--benchmark", "b", "--langs", "ja, zh"]) else {
            panic!("search")
        };
        let err = parse(&[&EVAL[..], &["--langs", "de, xx"]].concat()).err().expect("unknown code").to_string();
        assert!(err.contains("\"xx\""), "{err}");
    }

    /// Counts of 0 used to succeed with empty output (or p = 1 for every comparison).
    #[test]
    fn zero_counts_are_refused() {
        for args in [
            [&EVAL[..], &["--run-depth", "0"]].concat(),
            vec!["search", "--model", "m", "--benchmark", "b", "-k", "0"],
            vec!["compare", "a", "b", "--permutations", "0"],
            vec!["sample", "--pairs", "p", "--out", "o", "--batches", "0"],
        ] {
            let err = parse(&args).err().unwrap_or_else(|| panic!("{args:?} accepted")).to_string();
            assert!(err.contains("must be at least 1"), "{args:?}: {err}");
        }
        assert!(parse(&[&EVAL[..], &["--run-depth", "1"]].concat()).is_ok());
    }
}

//! A small rule-based sentence splitter for alphabetic scripts, used for Romanian XQuAD, the
//! one XQuAD language without official XQuAD-R sentence breaks.
//!
//! Rule: a sentence ends after a run of `.` `!` `?` `…` (plus closing quotes or brackets) that
//! is followed by whitespace and then an uppercase letter or an opening quote/bracket — unless
//! the run is a single `.` ending a token that is a single letter (an initial: `J. R. R.`),
//! contains another `.` (`S.U.A.`, `î.Hr.`), or is a listed abbreviation (`Dr.`, `nr.`, `Sf.`).
//! Digits do not start a sentence, so `nr. 5` and `No. 138` never split.
//!
//! Offsets are Unicode scalar values (what Python and the SQuAD `answer_start` count), start
//! inclusive, end exclusive, with surrounding whitespace excluded — the same convention as
//! XQuAD-R's `sentence_breaks`. The rule leans towards *missing* a break rather than adding a
//! wrong one, since a wrong break can cut an answer span in two. `scripts/bench_ingest.py`
//! implements the same rule; the ingestion benchmark checks both produce identical tables.

/// Characters that can end a sentence.
const TERMINATORS: &[char] = &['.', '!', '?', '…'];
/// Characters that may follow the terminator and still belong to the sentence.
const CLOSERS: &[char] = &['"', '\'', '”', '’', '»', ')', ']'];
/// Characters that may open the next sentence (besides an uppercase letter), and that are
/// stripped from the front of a token before the abbreviation test.
const OPENERS: &[char] = &['"', '„', '«', '“', '\'', '('];
/// Lowercase abbreviations (Romanian and English) after which a `.` is not a sentence end.
const ABBREVIATIONS: &[&str] = &[
    "aprox", "art", "cca", "cf", "col", "dl", "dna", "dr", "ex", "gen", "ing", "jr", "jud", "lt", "mr", "mrs", "ms",
    "nr", "p", "pag", "prof", "rev", "sec", "sf", "sr", "st", "str", "vol", "vs",
];

/// Sentence spans of `text` as `(start, end)` Unicode scalar offsets.
pub fn split_sentences(text: &str) -> Vec<(usize, usize)> {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n && c[start].is_whitespace() {
        start += 1;
    }
    let mut i = start;
    while i < n {
        if !TERMINATORS.contains(&c[i]) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && TERMINATORS.contains(&c[j]) {
            j += 1;
        }
        while j < n && CLOSERS.contains(&c[j]) {
            j += 1;
        }
        let end = j;
        if j < n && c[j].is_whitespace() {
            let mut k = j;
            while k < n && c[k].is_whitespace() {
                k += 1;
            }
            let starts_sentence = k < n && (c[k].is_uppercase() || OPENERS.contains(&c[k]));
            let abbreviation = c[i] == '.' && j == i + 1 && is_abbreviation(&c[start..i]);
            if starts_sentence && !abbreviation {
                out.push((start, end));
                start = k;
                i = k;
                continue;
            }
        }
        i = j;
    }
    let mut e = n;
    while e > start && c[e - 1].is_whitespace() {
        e -= 1;
    }
    if e > start {
        out.push((start, e));
    }
    out
}

/// Whether the last token of `before` (the text from the sentence start up to a `.`) is an
/// initial, a dotted abbreviation or a listed abbreviation.
fn is_abbreviation(before: &[char]) -> bool {
    let token_start = before.iter().rposition(|ch| ch.is_whitespace()).map_or(0, |p| p + 1);
    let mut token = &before[token_start..];
    while let Some((first, rest)) = token.split_first() {
        if OPENERS.contains(first) {
            token = rest;
        } else {
            break;
        }
    }
    if token.len() == 1 && token[0].is_alphabetic() {
        return true;
    }
    if token.contains(&'.') {
        return true;
    }
    let lower: String = token.iter().flat_map(|ch| ch.to_lowercase()).collect();
    ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        let c: Vec<char> = s.chars().collect();
        split_sentences(s).into_iter().map(|(a, b)| c[a..b].iter().collect()).collect()
    }

    #[test]
    fn splits_on_terminal_punctuation() {
        assert_eq!(
            texts("Prima propoziție. A doua? Da! „Citat.” Gata"),
            ["Prima propoziție.", "A doua?", "Da!", "„Citat.”", "Gata"]
        );
    }

    #[test]
    fn keeps_abbreviations_initials_and_numbers() {
        assert_eq!(
            texts("Dr. Ionescu a scris cartea lui J. R. R. Tolkien în S.U.A. Apoi a plecat."),
            ["Dr. Ionescu a scris cartea lui J. R. R. Tolkien în S.U.A. Apoi a plecat."]
        );
        assert_eq!(texts("Vezi nr. 5 și pag. 7. Sfârșit."), ["Vezi nr. 5 și pag. 7.", "Sfârșit."]);
        assert_eq!(texts("Anul 1990. 2000 de oameni."), ["Anul 1990. 2000 de oameni."]);
    }

    #[test]
    fn offsets_are_scalar_values_without_whitespace() {
        let s = "  Ăă țară. Îî ț.  ";
        assert_eq!(split_sentences(s), vec![(2, 10), (11, 16)]);
        // A single letter before the dot is an initial, not a sentence end.
        assert_eq!(split_sentences("Ăă ș. Îî"), vec![(0, 8)]);
        assert!(split_sentences("   ").is_empty());
    }
}
